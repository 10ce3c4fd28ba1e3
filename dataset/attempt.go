package dataset

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// attempt runs the operation once on the item, under the item's deadline
// and the stall watchdog, and commits or discards its output.
func (j *Job) attempt(ctx context.Context, it *Item, r *Result) (err error) {
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if d := j.opts.ItemTimeout; d > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeoutCause(ctx, d, fmt.Errorf("%w (%s)", errItemDeadline, d))
		defer c()
	}
	wd, stopWatch := watch(j.opts.StallTimeout, cancel)
	defer stopWatch()
	// The output's check is part of the attempt: a store that stops
	// answering stalls it like a transfer.
	if err := j.checkOutput(ctx, it, r); err != nil || r.Status != "" {
		return why(ctx, parent, err)
	}
	t := &Task{Item: it, Result: r, job: j, ctx: ctx, watch: wd}
	err = j.opts.Operation.Apply(ctx, t)
	if t.in != nil {
		t.in.Close()
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		err = why(ctx, parent, err)
		if t.out != nil {
			if aerr := t.out.abort(err); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return err
	}
	if t.out == nil {
		return nil
	}
	r.OutputSize = t.out.count.n.Load()
	j.bytesOut.Add(r.OutputSize)
	if j.manifest != nil && it.Out.IsLocal() {
		// The intent is recorded before the rename, "done" (by Do) only
		// after it: a run killed in between leaves a "committing" record,
		// and its rerun counts the output done if it is there with the
		// recorded size, or does the item again.
		r.Status, r.Time = StatusCommitting, time.Now().UTC()
		j.record(ctx, r)
		if r.Status != StatusCommitting {
			t.out.abort(r.err)
			return r.err
		}
		r.Status = ""
	}
	if err := t.out.commit(); err != nil {
		return why(ctx, parent, err)
	}
	return nil
}

// why says why an attempt's context ended, when it did and the error does
// not say so: a stall or the item's deadline (not the job's own
// cancellation, which the caller knows).
func why(ctx, parent context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); ctx.Err() != nil && parent.Err() == nil && cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

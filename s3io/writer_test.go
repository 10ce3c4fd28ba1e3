package s3io_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/mlseal/mlseal/s3io"
)

// TestObjectWriter writes an object through Create in pieces (a multipart
// upload): Commit makes it visible whole; Abort leaves neither an object
// nor parts, and no upload in flight.
func TestObjectWriter(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	data := streamBytes(7, 2*testPartSize+123)

	w := f.c.Create(ctx, f.bucket, "kept", s3io.PutOptions{Metadata: map[string]string{"k": "v"}})
	for p := data; len(p) > 0; p = p[min(len(p), 1<<20):] {
		if _, err := w.Write(p[:min(len(p), 1<<20)]); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.c.Uploads()) != 1 {
		t.Errorf("uploads in flight before Commit: %v", f.c.Uploads())
	}
	res, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := f.c.Get(ctx, f.bucket, "kept", s3io.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj)
	obj.Close()
	if !bytes.Equal(got, data) || res.Size != int64(len(data)) || obj.Info().Metadata["k"] != "v" {
		t.Errorf("committed object: %d bytes, result %+v, metadata %v", len(got), res, obj.Info().Metadata)
	}

	w = f.c.Create(ctx, f.bucket, "dropped", s3io.PutOptions{})
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	cause := errors.New("the producer failed")
	if err := w.Abort(cause); err != nil {
		t.Fatal(err)
	}
	if f.exists(t, "dropped") || f.pendingUploads(t) != 0 || len(f.c.Uploads()) != 0 {
		t.Errorf("after Abort: object %v, %d pending, in flight %v", f.exists(t, "dropped"), f.pendingUploads(t), f.c.Uploads())
	}
}

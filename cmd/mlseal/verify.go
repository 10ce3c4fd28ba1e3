package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

func (a *app) verifyCmd() *cobra.Command {
	var f decryptFlags
	cmd := &cobra.Command{
		Use:   "verify [flags] [IN]...",
		Short: "Authenticate IN (default stdin) without writing the plaintext",
		Long: `Authenticate IN (default stdin) without writing the plaintext.

The whole message is decrypted and discarded: header, every frame and, for a
signed suite, the signature are checked, with the same keys and context
decrypt would use. An authentic message prints one OK line on stderr. With
several inputs, each is checked and the failures are reported.

` + exitCodeHelp,
		Args: cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.verify(cmd.Context(), &f, args)
		}),
	}
	f.addOpenFlags(cmd.Flags())
	return cmd
}

func (a *app) verify(ctx context.Context, f *decryptFlags, args []string) error {
	opts, keys, err := a.openOptions(f)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{"-"}
	}
	var jobs []job
	for _, in := range args {
		jobs = append(jobs, job{in: in, out: "-"})
	}
	a.stdout = io.Discard
	return a.runJobs(ctx, jobs, len(jobs) > 1, false, 0, "",
		func(ctx context.Context, j job, r io.Reader, w io.Writer) error {
			h, n, err := openMessage(ctx, r, w, opts)
			if err != nil {
				return withHint(err, openHint(err, keys, f))
			}
			a.logf("OK: %s is authentic (%s, %d bytes of plaintext)", displayName(j.in, false), h.Suite, n)
			return nil
		})
}

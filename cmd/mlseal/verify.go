package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/dataset"
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
several inputs, a directory or an S3 prefix, each is checked and the failures
are reported.

` + exitCodeHelp,
		Args: cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.verify(cmd.Context(), &f, args)
		}),
	}
	f.addOpenFlags(cmd.Flags())
	f.dataset.addFlags(cmd.Flags(), suffixNone)
	return cmd
}

func (a *app) verify(ctx context.Context, f *decryptFlags, args []string) error {
	op := &dataset.Verify{}
	var keys []loadedKey
	kc := &dataset.KeyCounter{}
	return a.runDataset(ctx, &datasetJob{
		flags: &f.dataset, op: op, verb: "verified", args: args, keys: kc,
		prepare: func(items []*dataset.Item) (err error) {
			op.Options, keys, err = a.batchOpenOptions(f, len(items), kc)
			return err
		},
		explain: func(_ *dataset.Item, err error) error { return withHint(err, openHint(err, keys, f)) },
		ok: func(r *dataset.Result) {
			in := r.Input
			if in == "-" {
				in = "stdin"
			}
			a.logf("OK: %s is authentic (%s, %d bytes of plaintext)", in, r.Suite, r.OutputSize)
		},
	})
}

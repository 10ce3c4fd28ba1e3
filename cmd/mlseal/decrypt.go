package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
)

// decryptFlags are the flags of decrypt, most of which verify shares.
type decryptFlags struct {
	keys         []string
	kms          kmsFlags // kms: keys and --discovery: kms.go
	context      []string
	allowLegacy  bool
	unsignedOnly bool
	allowNetV400 bool
	maxEDKs      int
	workers      int
	maxBuffered  int64
	out          string
	force        bool
	dataset      datasetFlags // s3:// and directory jobs: s3cmd.go
}

// addOpenFlags adds the flags that say how to open a message.
func (f *decryptFlags) addOpenFlags(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "key `FILE`, or kms:KEY-ARN for an AWS KMS key, that may decrypt (repeatable; default: the default key)")
	fl.StringArrayVarP(&f.context, "context", "c", nil, "expected encryption context pair `KEY=VALUE` (repeatable)")
	fl.BoolVar(&f.allowLegacy, "allow-legacy", false, "also read messages of legacy suites without key commitment")
	fl.BoolVar(&f.allowNetV400, "allow-net-v4.0.0", false, "also read messages written by the AWS Encryption SDK for .NET 4.0.0")
	fl.IntVar(&f.maxEDKs, "max-encrypted-data-keys", 0, fmt.Sprintf("the `N` wrapped data keys a message may carry at most (default %d)", envelope.DefaultMaxEncryptedDataKeys))
	fl.IntVar(&f.workers, "workers", 0, "`N` goroutines opening frames (default GOMAXPROCS)")
	fl.Int64Var(&f.maxBuffered, "max-buffered", 0, fmt.Sprintf("at most `BYTES` of frames held at once, whatever --workers and the message's frame length (default %d)", envelope.DefaultMaxBuffered))
	f.kms.addFlags(fl, true)
}

func (a *app) decryptCmd() *cobra.Command {
	var f decryptFlags
	cmd := &cobra.Command{
		Use:   "decrypt [flags] [IN]...",
		Short: "Decrypt and authenticate IN (default stdin) to OUT (default stdout)",
		Long: `Decrypt and authenticate IN (default stdin) to OUT (default stdout).

Any one --key that can unwrap the data key is enough. Without --key, the
default key is used; it is never created here. Every --context pair must match
the message's encryption context; pairs the message does not store (its
required context) must be given here.

An output file is written under a temporary name and appears only once the
whole message, signature included, is authenticated; it is created with mode
0600. Several inputs can be decrypted at once into a directory given with -o
(created when missing): the --suffix (default .enc) is removed, or .dec added.

Plaintext written to stdout is released frame by frame, each frame
authenticated; the signature of a signed message is checked only at its end,
so pass --unsigned-only to refuse signed messages when streaming.

` + exitCodeHelp,
		Args: cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.decrypt(cmd.Context(), &f, args)
		}),
	}
	fl := cmd.Flags()
	f.addOpenFlags(fl)
	fl.BoolVar(&f.unsignedOnly, "unsigned-only", false, "refuse signed messages")
	fl.StringVarP(&f.out, "output", "o", "", "output `OUT` file, or directory (DIR/ is created) (default stdout)")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite existing output files")
	f.dataset.addFlags(fl, suffixRemove)
	return cmd
}

// openOptions builds the decryption options from the flags.
func (a *app) openOptions(f *decryptFlags) (envelope.DecryptOptions, []loadedKey, error) {
	opts := envelope.DecryptOptions{
		UnsignedOnly:         f.unsignedOnly,
		AllowNetV400Messages: f.allowNetV400,
		MaxEncryptedDataKeys: f.maxEDKs,
		Workers:              f.workers,
		MaxBuffered:          f.maxBuffered,
	}
	if f.maxEDKs < 0 {
		return opts, nil, usageErrorf("--max-encrypted-data-keys must be positive")
	}
	if f.workers < 0 {
		return opts, nil, usageErrorf("--workers must not be negative")
	}
	if f.maxBuffered < 0 {
		return opts, nil, usageErrorf("--max-buffered must not be negative")
	}
	if f.allowLegacy {
		opts.CommitmentPolicy = envelope.RequireEncryptAllowDecrypt
	}
	var err error
	if opts.Context, err = parseContext(f.context); err != nil {
		return opts, nil, err
	}
	var keys []loadedKey
	if len(f.keys) > 0 || !f.kms.discoveryAsked() {
		if keys, err = a.decryptKeys(f.keys); err != nil {
			return opts, nil, err
		}
	}
	if keys, err = f.kms.resolve(keys, true); err != nil {
		return opts, nil, err
	}
	if opts.Keyring, err = keyring(keys); err != nil {
		return opts, nil, err
	}
	return opts, keys, nil
}

func (a *app) decrypt(ctx context.Context, f *decryptFlags, args []string) error {
	op := &dataset.Decrypt{Suffix: f.dataset.suffix}
	var keys []loadedKey
	kc := &dataset.KeyCounter{}
	return a.runDataset(ctx, &datasetJob{
		flags: &f.dataset, op: op, verb: "decrypted", args: args, out: f.out, force: f.force, keys: kc,
		prepare: func(items []*dataset.Item) (err error) {
			op.Options, keys, err = a.batchOpenOptions(f, len(items), kc)
			return err
		},
		explain: func(_ *dataset.Item, err error) error { return abortHint(withHint(err, openHint(err, keys, f))) },
	})
}

// batchOpenOptions builds the decryption options of a dataset job of n
// inputs from the flags: the keyring counted by kc, with the data-key cache
// for a batch over it.
func (a *app) batchOpenOptions(f *decryptFlags, n int, kc *dataset.KeyCounter) (envelope.DecryptOptions, []loadedKey, error) {
	opts, keys, err := a.openOptions(f)
	if err != nil {
		return opts, keys, err
	}
	kc.Keyring, opts.Keyring = opts.Keyring, kc
	return opts, keys, batchDecryptMaterials(&opts, keys, n)
}

// openHint explains why a message could not be opened.
func openHint(err error, keys []loadedKey, f *decryptFlags) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, envelope.ErrNoDataKey):
		// Raw keys bind the wrapped data key to the whole context, so a
		// missing or different context looks like a wrong key.
		ctx := "check the --context pairs"
		if len(f.context) == 0 {
			ctx = "if it was encrypted with required context keys, pass them with --context KEY=VALUE"
		}
		return fmt.Sprintf("tried %s: pass --key with a key the message was encrypted to ('mlseal inspect' lists its wrapped keys); %s", describeKeys(keys), ctx)
	case errors.Is(err, envelope.ErrTruncated):
		return "the message ends early: it may be an incomplete copy"
	case errors.Is(err, envelope.ErrAuthentication):
		if len(f.context) == 0 {
			return "the message was modified, or it was encrypted with required context keys: pass them with --context KEY=VALUE"
		}
		return "the message was modified, or its encryption context differs from the --context pairs given"
	case errors.Is(err, envelope.ErrMalformed):
		return "this is not a well-formed message ('mlseal inspect' shows what its header says)"
	case errors.Is(err, envelope.ErrPolicy):
		switch {
		case f.unsignedOnly && f.allowLegacy:
			return "the message is signed: drop --unsigned-only to read it"
		case f.unsignedOnly:
			return "a signed message needs no --unsigned-only; a legacy suite without key commitment needs --allow-legacy"
		default:
			return "the message uses a legacy suite without key commitment: pass --allow-legacy to read it"
		}
	case errors.Is(err, envelope.ErrLimit):
		return "if you trust where the message comes from, raise --max-encrypted-data-keys"
	}
	return ""
}

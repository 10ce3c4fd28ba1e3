package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
)

// encryptedExt is appended to file names encrypted into a directory or
// prefix, and removed on decrypt, unless --suffix says otherwise.
const encryptedExt = ".enc"

type encryptFlags struct {
	keys        []string
	kms         kmsFlags // kms: keys: kms.go
	context     []string
	required    []string
	suite       string
	frameLength int
	workers     int
	out         string
	force       bool
	dataset     datasetFlags // s3:// and directory jobs: s3cmd.go
}

func (a *app) encryptCmd() *cobra.Command {
	var f encryptFlags
	cmd := &cobra.Command{
		Use:   "encrypt [flags] [IN]...",
		Short: "Encrypt IN (default stdin) to OUT (default stdout)",
		Long: `Encrypt IN (default stdin) to OUT (default stdout).

Every --key wraps the data key, so that any one of them can decrypt; the first
one generates it. Without --key, the default key is used, and created the
first time. Several inputs can be encrypted at once into a directory given with
-o (created when missing); each IN is written to DIR/<base> plus --suffix
(default .enc).

The encryption context (--context) is not secret: it is stored in the message
and authenticated. Keys named by --require-context-key are authenticated but
not stored, so whoever decrypts must pass them with --context.

` + exitCodeHelp,
		Args: cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.encrypt(cmd.Context(), &f, args)
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "key `FILE`, or kms:KEY for an AWS KMS key, to encrypt to (repeatable; default: the default key)")
	fl.StringArrayVarP(&f.context, "context", "c", nil, "encryption context pair `KEY=VALUE` (repeatable)")
	fl.StringArrayVar(&f.required, "require-context-key", nil, "context `KEY` to authenticate but not store (repeatable)")
	fl.StringVar(&f.suite, "suite", "", "algorithm suite `NAME` or hex id (default "+envelope.DefaultSuite.String()+")")
	fl.IntVar(&f.frameLength, "frame-length", envelope.DefaultFrameLength, fmt.Sprintf("plaintext `BYTES` per frame, 1 to %d", envelope.DefaultMaxFrameLength))
	fl.IntVar(&f.workers, "workers", 0, "`N` goroutines sealing frames (default GOMAXPROCS)")
	fl.StringVarP(&f.out, "output", "o", "", "output `OUT` file, or directory (DIR/ is created) (default stdout)")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite existing output files")
	f.kms.addFlags(fl, false)
	f.dataset.addFlags(fl, suffixAdd)
	return cmd
}

func (a *app) encrypt(ctx context.Context, f *encryptFlags, args []string) error {
	opts := envelope.EncryptOptions{FrameLength: f.frameLength, Workers: f.workers}
	if f.frameLength < 1 || f.frameLength > envelope.DefaultMaxFrameLength {
		return &cliError{
			err:  fmt.Errorf("--frame-length %d is outside 1..%d", f.frameLength, envelope.DefaultMaxFrameLength),
			code: exitUsage,
			hint: fmt.Sprintf("the default, %d, suits most data", envelope.DefaultFrameLength),
		}
	}
	if f.workers < 0 {
		return usageErrorf("--workers must not be negative")
	}
	if f.suite != "" {
		s, err := envelope.ParseSuite(f.suite)
		if err != nil {
			return &cliError{err: err, code: exitUsage}
		}
		if !s.Committing() {
			return &cliError{
				err:  fmt.Errorf("suite %s does not commit to its key and is only read, never written", s),
				code: exitUsage,
				hint: fmt.Sprintf("use %s or %s", envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384),
			}
		}
		opts.Suite = s
	}
	var err error
	if opts.Context, err = parseContext(f.context); err != nil {
		return err
	}
	for _, k := range f.required {
		if _, ok := opts.Context[k]; !ok {
			return &cliError{
				err:  fmt.Errorf("--require-context-key %q has no value", k),
				code: exitUsage,
				hint: fmt.Sprintf("pass its value too, as --context %s=VALUE", k),
			}
		}
		if !slices.Contains(opts.RequiredContextKeys, k) {
			opts.RequiredContextKeys = append(opts.RequiredContextKeys, k)
		}
	}

	op := &dataset.Encrypt{Suffix: f.dataset.suffix}
	kc := &dataset.KeyCounter{}
	return a.runDataset(ctx, &datasetJob{
		flags: &f.dataset, op: op, verb: "encrypted", args: args, out: f.out, force: f.force,
		binaryOut: true, keys: kc,
		prepare: func(items []*dataset.Item) error {
			names, err := a.sealingKeys(f, &opts, len(items), kc)
			if err != nil {
				return err
			}
			op.Options, op.Keys = opts, names
			return nil
		},
		explain: func(_ *dataset.Item, err error) error { return abortHint(err) },
	})
}

// sealingKeys resolves the --key REFs of encrypt (the default key when there
// are none) into opts' keyring, counted by kc, with the data-key cache
// for a batch of n inputs over it. It returns the keys' names, for the
// manifest's record of the job.
func (a *app) sealingKeys(f *encryptFlags, opts *envelope.EncryptOptions, n int, kc *dataset.KeyCounter) ([]string, error) {
	keys, err := a.encryptKeys(f.keys)
	if err != nil {
		return nil, err
	}
	if keys, err = f.kms.resolve(keys, false); err != nil {
		return nil, err
	}
	if kc.Keyring, err = keyring(keys); err != nil {
		return nil, err
	}
	opts.Keyring = kc
	return keyNames(keys), batchEncryptMaterials(opts, keys, n)
}

// keyNames names keys as a manifest records them: a key file's namespace
// and name, a KMS key's identifier; never their material.
func keyNames(keys []loadedKey) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		if k.file != nil {
			names[i] = k.file.Namespace + " " + k.file.Name
		} else {
			names[i] = "aws-kms " + k.kms
		}
	}
	return names
}

package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
)

func init() { productCommands = append(productCommands, (*app).rewrapCmd) }

type rewrapFlags struct {
	keys      []string
	dec       decryptFlags // --old-key, --context, and how to open the messages
	inPlace   bool
	reencrypt bool
	suite     string
	out       string
	force     bool
	dataset   datasetFlags
}

const rewrapHelp = `Give encrypted messages new wrapping keys without re-encrypting them.

Each message's data key is unwrapped with an --old-key (default: the default
key) and wrapped with every --key; the new message carries exactly those
wrapped keys. Its header is rewritten with a new authentication tag and its
body is copied byte for byte, so a message of any size costs one unwrap, one
wrap and a copy. From S3 to S3 the body is copied by S3 itself
(UploadPartCopy): only the header and the first 5 MiB of an object pass
through mlseal. Inputs and outputs are those of encrypt and decrypt: files,
directories, s3:// objects and prefixes, with --manifest, --shard and --jobs;
outputs keep their input's name. --in-place replaces each input: an S3 object
only if it is unchanged since it was read (a conditional write on its ETag).

What rewrap does not protect against:
  - The data key stays the same. Whoever unwrapped it before, or still holds
    an old key and an old copy of a message (an earlier S3 object version, a
    backup), can decrypt the rewrapped message. Rewrap retires a key for the
    future; for a compromised key, use --reencrypt.
  - The new header is authenticated under the same key and IV as the old one.
    Whoever holds both an old and a new copy of a message can compute its
    authentication key and forge changes to its context and body. Delete old
    copies and object versions; where someone who may write the data could
    have read them, use --reencrypt.
  - The body is not read, so a damaged message stays damaged: run verify.
  - Signed messages (their signature covers the header) and messages of
    legacy suites cannot be rewrapped: use --reencrypt (with --allow-legacy
    for legacy suites).

--reencrypt decrypts each message and encrypts its plaintext anew under the
--key keys: a new data key and message id, the same encryption context
(required keys stay required) and, unless --suite says otherwise, signed if
the old message was.

` + exitCodeHelp

func (a *app) rewrapCmd() *cobra.Command {
	var f rewrapFlags
	cmd := &cobra.Command{
		Use:   "rewrap --key NEW... [--old-key OLD...] [-c KEY=VALUE]... [-o OUT | --in-place] [IN]...",
		Short: "Wrap the data keys of encrypted messages with new keys, without re-encrypting them",
		Long:  rewrapHelp,
		Args:  cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.rewrap(cmd.Context(), &f, args)
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "new key `FILE`, or kms:KEY for an AWS KMS key, to wrap the data key with (repeatable; required)")
	fl.StringArrayVar(&f.dec.keys, "old-key", nil, "key `FILE`, or kms:KEY-ARN, that may unwrap the data key (repeatable; default: the default key)")
	fl.StringArrayVarP(&f.dec.context, "context", "c", nil, "expected encryption context pair `KEY=VALUE` (repeatable); pairs the message does not store stay required")
	fl.BoolVar(&f.dec.allowLegacy, "allow-legacy", false, "with --reencrypt, also read messages of legacy suites without key commitment")
	fl.BoolVar(&f.dec.allowNetV400, "allow-net-v4.0.0", false, "also read messages written by the AWS Encryption SDK for .NET 4.0.0")
	fl.IntVar(&f.dec.workers, "workers", 0, "with --reencrypt, `N` goroutines sealing and opening frames (default GOMAXPROCS)")
	fl.BoolVar(&f.inPlace, "in-place", false, "replace each input (S3 objects only if unchanged since read)")
	fl.BoolVar(&f.reencrypt, "reencrypt", false, "decrypt and encrypt anew: a new data key (for compromised keys, signed and legacy messages)")
	fl.StringVar(&f.suite, "suite", "", "with --reencrypt, the algorithm suite `NAME` (default: the old message's signed or unsigned committing suite)")
	fl.StringVarP(&f.out, "output", "o", "", "output `OUT` file, directory (DIR/ is created) or s3:// prefix (default stdout)")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite existing outputs")
	f.dec.kms.addFlags(fl, true)
	f.dataset.addFlags(fl, suffixNone)
	return cmd
}

func (a *app) rewrap(ctx context.Context, f *rewrapFlags, args []string) error {
	switch {
	case len(f.keys) == 0:
		return &cliError{err: errors.New("rewrap needs at least one new --key"), code: exitUsage,
			hint: "pass --key with each key the rewrapped messages should open with, and --old-key with a key they open with now"}
	case f.inPlace && f.out != "":
		return usageErrorf("--in-place replaces the inputs: it takes no -o")
	case f.inPlace && (len(args) == 0 || slices.Contains(args, "-")):
		return usageErrorf("--in-place needs the files or objects to replace (not stdin)")
	case f.suite != "" && !f.reencrypt:
		return usageErrorf("--suite goes with --reencrypt: rewrap keeps each message's suite")
	case f.dec.allowLegacy && !f.reencrypt:
		return &cliError{err: errors.New("--allow-legacy goes with --reencrypt"), code: exitUsage,
			hint: "a legacy message cannot be rewrapped into a key-committing one; --reencrypt --allow-legacy encrypts it anew"}
	}
	var suite envelope.SuiteID
	if f.suite != "" {
		s, err := envelope.ParseSuite(f.suite)
		if err != nil {
			return &cliError{err: err, code: exitUsage}
		}
		if !s.Committing() {
			return usageErrorf("suite %s does not commit to its key and is only read, never written", s)
		}
		suite = s
	}
	op := &dataset.Rewrap{InPlace: f.inPlace}
	var oldKeys []loadedKey
	verb := "rewrapped"
	if f.reencrypt {
		verb = "re-encrypted"
	}
	return a.runDataset(ctx, &datasetJob{
		flags: &f.dataset, op: op, verb: verb, args: args, out: f.out, force: f.force,
		binaryOut: true,
		prepare: func(items []*dataset.Item) (err error) {
			if op.Options.Decrypt, oldKeys, err = a.openOptions(&f.dec); err != nil {
				if len(f.dec.keys) == 0 && hintOf(err) != "" {
					// The hint of decrypt names its --key; here it is --old-key.
					return withHint(withoutHint(err), "pass --old-key with a key the messages are encrypted with now")
				}
				return err
			}
			if err := batchDecryptMaterials(&op.Options.Decrypt, oldKeys, len(items)); err != nil {
				return err
			}
			// The new keys are named, never defaulted, and not discovered.
			newKMS := f.dec.kms
			newKMS.discovery, newKMS.regions, newKMS.accounts, newKMS.partition = false, nil, nil, ""
			keys, err := loadKeys(f.keys)
			if err != nil {
				return err
			}
			if keys, err = newKMS.resolve(keys, false); err != nil {
				return err
			}
			op.Keys = keyNames(keys)
			if f.reencrypt {
				enc := envelope.EncryptOptions{Suite: suite, Workers: f.dec.workers}
				if enc.Keyring, err = keyring(keys); err != nil {
					return err
				}
				op.Reencrypt = &enc
				return batchEncryptMaterials(op.Reencrypt, keys, len(items))
			}
			op.Options.Keyring, err = wrappingKeyring(keys)
			return err
		},
		explain: func(_ *dataset.Item, err error) error { return abortHint(withHint(err, rewrapHint(err, oldKeys, f))) },
	})
}

// wrappingKeyring combines the new keys so that each wraps the data key
// that rewrap hands them: a multi-keyring without a generator.
func wrappingKeyring(keys []loadedKey) (envelope.Keyring, error) {
	rings := make([]envelope.Keyring, len(keys))
	for i, k := range keys {
		var err error
		if rings[i], err = keyring([]loadedKey{k}); err != nil {
			return nil, err
		}
	}
	return multi.New(nil, rings...)
}

// rewrapHint explains why a message could not be rewrapped.
func rewrapHint(err error, oldKeys []loadedKey, f *rewrapFlags) string {
	switch {
	case errors.Is(err, envelope.ErrPolicy) && !f.reencrypt:
		return "pass --reencrypt to decrypt such messages and encrypt them anew"
	case errors.Is(err, envelope.ErrNoDataKey):
		return fmt.Sprintf("tried %s: pass --old-key with a key the message is encrypted to now ('mlseal inspect' lists its wrapped keys)", describeKeys(oldKeys))
	case errors.Is(err, dataset.ErrExists) && f.inPlace:
		return ""
	}
	return openHint(err, oldKeys, &f.dec)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/tokenize"
)

func init() {
	productCommands = append(productCommands, (*app).tokenizeCmd, (*app).detokenizeCmd)
}

// keysetFlags are the flags that load a token keyset.
type keysetFlags struct {
	keyset string
	keys   []string
	kms    kmsFlags
}

func (f *keysetFlags) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&f.keyset, "keyset", "", "token keyset `FILE` (made by 'mlseal tokenize keygen')")
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "key `REF` that wraps the keyset: a key file or kms:KEY-ARN (default: the default key)")
	f.kms.addFlags(fl, false)
}

// load reads the keyset, unwrapping it with the --key keys.
func (a *app) loadKeyset(ctx context.Context, f *keysetFlags) (*tokenize.Keyset, error) {
	if f.keyset == "" {
		return nil, &cliError{err: errors.New("--keyset FILE is required"), code: exitUsage,
			hint: "create one with 'mlseal tokenize keygen -o FILE'"}
	}
	keys, err := a.decryptKeys(f.keys)
	if err != nil {
		return nil, err
	}
	if keys, err = f.kms.resolve(keys, true); err != nil {
		return nil, err
	}
	kr, err := keyring(keys)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(f.keyset)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	ks, err := tokenize.ReadKeyset(ctx, file, kr)
	if err != nil {
		return nil, withHint(fmt.Errorf("%s: %w", f.keyset, err),
			fmt.Sprintf("is %s the key the keyset was created with? (tried %s)", plural(len(keys), "this", "these"), describeKeys(keys)))
	}
	return ks, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

type tokenizeFlags struct {
	keysetFlags
	policy  string
	format  string
	out     string
	rejects string
	workers int
	force   bool
	dataset datasetFlags // directories, s3://, manifests, shards: s3cmd.go
}

const tokenizeLong = `Tokenize the fields of IN (default stdin) that the policy names, writing
OUT (default stdout). Formats: csv (RFC 4180 with a header row), jsonl
(one JSON object per line) and parquet (string columns; stdin is spooled to
a temporary file, as Parquet is read from its end); the format is taken from
IN's extension unless --format is given. Output files are created 0600.
Several inputs, directories and s3:// prefixes are written under the
directory or prefix -o names, keeping their names, --jobs at a time, with
--manifest and --shard as for encrypt.

Deterministic and fpe tokens can be reversed with 'mlseal detokenize' and the
same keyset; hash, mask, redact and date-shift cannot. A record that cannot
be parsed or transformed stops the run, with its record and line number and
the field, and no output file is left behind; with --rejects FILE such
records are written there instead and the run goes on.

Keys: 'mlseal tokenize keygen -o FILE' creates a token keyset wrapped by an
envelope key (--key, or the default key); 'mlseal tokenize rotate' adds new
primary keys. The policy file's schema is in tokenize/FORMAT.md.

`

func (a *app) tokenizeCmd() *cobra.Command {
	var f tokenizeFlags
	cmd := &cobra.Command{
		Use:   "tokenize --policy FILE --keyset FILE [flags] [IN]...",
		Short: "Replace personal data in CSV or JSON Lines records with tokens",
		Long:  tokenizeLong + exitCodeHelp,
		Args:  cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.tokenize(cmd.Context(), &f, args, false)
		}),
	}
	f.addTransformFlags(cmd.Flags())
	cmd.AddCommand(a.tokenKeygenCmd(), a.tokenRotateCmd())
	return cmd
}

func (a *app) detokenizeCmd() *cobra.Command {
	var f tokenizeFlags
	cmd := &cobra.Command{
		Use:   "detokenize --policy FILE --keyset FILE [flags] [IN]...",
		Short: "Reverse the deterministic and fpe tokens of 'mlseal tokenize'",
		Long: `Reverse the reversible tokens (deterministic, fpe, and the deterministic
spans of scan fields) of IN (default stdin), writing OUT (default stdout),
with the policy and keyset that made them. One-way fields (hash, mask,
redact, date-shift) are copied as they are. Output files are created 0600.

` + exitCodeHelp,
		Args: cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.tokenize(cmd.Context(), &f, args, true)
		}),
	}
	f.addTransformFlags(cmd.Flags())
	return cmd
}

func (f *tokenizeFlags) addTransformFlags(fl *pflag.FlagSet) {
	fl.StringVar(&f.policy, "policy", "", "policy `FILE` (JSON) naming the fields and their operations")
	f.keysetFlags.addFlags(fl)
	fl.StringVar(&f.format, "format", "", "record format: `csv|jsonl|parquet` (default: from IN's extension)")
	fl.StringVarP(&f.out, "output", "o", "", "output `OUT`: a file, a directory (DIR/ is created) or an s3:// prefix (default stdout)")
	fl.StringVar(&f.rejects, "rejects", "", "write bad records to `FILE` and go on, instead of stopping")
	fl.IntVar(&f.workers, "workers", 0, "`N` goroutines transforming records (default GOMAXPROCS)")
	fl.BoolVarP(&f.force, "force", "f", false, "overwrite existing output files")
	f.dataset.addFlags(fl, suffixNone)
}

// formatOf returns the record format of --format or of the input's name.
func formatOf(flag, in string) (tokenize.Format, error) {
	name := strings.ToLower(flag)
	if name == "" {
		switch strings.ToLower(filepath.Ext(strings.TrimSuffix(in, ".mlseal"))) {
		case ".csv":
			name = "csv"
		case ".jsonl", ".ndjson":
			name = "jsonl"
		case ".parquet":
			name = "parquet"
		}
	}
	switch name {
	case "csv":
		return tokenize.FormatCSV, nil
	case "jsonl", "ndjson":
		return tokenize.FormatJSONL, nil
	case "parquet":
		return tokenize.FormatParquet, nil
	case "":
		return "", &cliError{err: fmt.Errorf("cannot tell the format of %s", displayName(in, false)), code: exitUsage,
			hint: "pass --format csv or --format jsonl"}
	}
	return "", usageErrorf("unknown --format %q: want csv, jsonl or parquet", flag)
}

func (a *app) tokenize(ctx context.Context, f *tokenizeFlags, args []string, detok bool) error {
	if f.policy == "" {
		return &cliError{err: errors.New("--policy FILE is required"), code: exitUsage,
			hint: "'mlseal scan --write-policy FILE IN' writes a starter policy; see tokenize/FORMAT.md"}
	}
	if f.workers < 0 {
		return usageErrorf("--workers must not be negative")
	}
	// One plain input (stdin or a file) needs its format now; the items of
	// a directory or prefix are told apart by their names.
	one := len(args) <= 1 && (len(args) == 0 || !isS3(args[0]) && !isDir(args[0]))
	in := "-"
	if len(args) == 1 {
		in = args[0]
	}
	var format tokenize.Format
	if f.format != "" || one {
		var err error
		if format, err = formatOf(f.format, in); err != nil {
			return err
		}
	}
	if f.rejects != "" {
		switch {
		case !one:
			return usageErrorf("--rejects takes one input, not several, a directory or a prefix")
		case f.rejects == "-":
			return usageErrorf("--rejects needs a file name")
		case !isStd(f.out) && filepath.Clean(f.rejects) == filepath.Clean(f.out):
			return usageErrorf("--rejects and -o name the same file")
		case format == tokenize.FormatParquet:
			return usageErrorf("--rejects is not supported for Parquet")
		}
		if err := checkOutput(f.rejects, f.force); err != nil {
			return err
		}
	}
	opts := tokenize.Options{Format: format, Workers: f.workers}
	op := &dataset.Tokenize{Reverse: detok}
	var rej *output
	var allRejected *dataset.Result // with --rejects, a run that kept no record
	verb := "tokenized"
	if detok {
		verb = "detokenized"
	}
	err := a.runDataset(ctx, &datasetJob{
		flags: &f.dataset, op: op, verb: verb, args: args, out: f.out, force: f.force,
		prepare: func(items []*dataset.Item) error {
			tk, err := a.tokenizer(ctx, f)
			if err != nil {
				return err
			}
			if f.rejects != "" {
				if rej, err = a.createOutput(f.rejects, f.force, 0o600); err != nil {
					return err
				}
				opts.Rejects = rej.w
				opts.OnReject = func(e *tokenize.RecordError) { a.printError(displayName(in, false), e) }
			}
			op.Tokenizer, op.Options = tk, opts
			return nil
		},
		explain: func(it *dataset.Item, err error) error {
			if it.In.IsStd() || one {
				err = fmt.Errorf("%s: %w", displayName(it.In.String(), false), err)
			}
			itFormat := format
			if itFormat == "" {
				itFormat, _ = formatOf(f.format, it.In.String())
			}
			return withHint(abortHint(err), tokenizeHint(err, detok, itFormat == tokenize.FormatParquet, one))
		},
		ok: func(r *dataset.Result) {
			switch {
			case rej != nil && r.Rejected > 0 && r.Rejected == r.Records:
				allRejected = r
			case rej != nil && r.Rejected > 0:
				a.logf("%d of %d records rejected, written to %s", r.Rejected, r.Records, f.rejects)
			}
			for _, field := range slices.Sorted(maps.Keys(r.Passed)) {
				a.logf("%d values of field %q left as they were (on_invalid: pass): they may hold personal data in the clear", r.Passed[field], field)
			}
		},
	})
	if rej != nil {
		if err != nil {
			rej.abort()
			return err
		}
		if err := rej.commit(); err != nil {
			return err
		}
	}
	if err == nil && allRejected != nil {
		// Exit 4, as a batch whose every item failed: the output holds
		// no record, which a script must not take for success.
		return &cliError{
			err: fmt.Errorf("every record of %s was rejected (%d of %d), written to %s",
				displayName(in, false), allRejected.Rejected, allRejected.Records, f.rejects),
			code: exitBatch,
			hint: "check that the policy's fields and operations fit this data ('mlseal scan --write-policy FILE IN' suggests a policy)",
		}
	}
	return err
}

// isDir reports whether name is a directory.
func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// tokenizer loads the policy and the keyset of f.
func (a *app) tokenizer(ctx context.Context, f *tokenizeFlags) (*tokenize.Tokenizer, error) {
	policy, err := tokenize.LoadPolicy(f.policy)
	if err != nil {
		return nil, withHint(err, "the policy schema is in tokenize/FORMAT.md")
	}
	ks, err := a.loadKeyset(ctx, &f.keysetFlags)
	if err != nil {
		return nil, err
	}
	tk, err := tokenize.New(ks, policy)
	if err != nil {
		return nil, withHint(err, fmt.Sprintf("the keyset's keys: 'mlseal tokenize keygen' printed them; PRF keys %v", prfIDs(ks)))
	}
	return tk, nil
}

func prfIDs(ks *tokenize.Keyset) []uint32 {
	var ids []uint32
	for _, k := range ks.Info().PRF {
		ids = append(ids, k.ID)
	}
	return ids
}

// tokenizeHint suggests what to do about err; --rejects only where the
// format has it (not Parquet), and for a job of several inputs as a run
// of the one that failed (--rejects takes one input).
func tokenizeHint(err error, detok, parquet, one bool) string {
	rejects := "pass --rejects FILE to set bad records aside"
	if !one {
		verb := "tokenize"
		if detok {
			verb = "detokenize"
		}
		rejects = verb + " that input alone with --rejects FILE to set its bad records aside"
	}
	switch {
	case errors.Is(err, tokenize.ErrKeyVersion) && !detok:
		return "pin the PRF key in the policy: 'mlseal tokenize rotate' printed the line to add"
	case errors.Is(err, tokenize.ErrKeyVersion):
		return "set prf_key_id in the policy to the PRF key that made the tokens"
	case errors.Is(err, tokenize.ErrToken):
		return "is this the keyset, and the policy (domains), the data was tokenized with?"
	case errors.Is(err, tokenize.ErrValue) && !detok && parquet:
		return `set "on_invalid": "pass" on the field to leave such values as they are`
	case parquet:
		return ""
	case errors.Is(err, tokenize.ErrValue) && !detok:
		return `set "on_invalid": "pass" on the field to leave such values as they are, or ` + rejects
	case errors.Is(err, tokenize.ErrMalformed):
		return rejects + " and go on"
	}
	return ""
}

type tokenKeygenFlags struct {
	keys []string
	kms  kmsFlags
	out  string
}

func (a *app) tokenKeygenCmd() *cobra.Command {
	var f tokenKeygenFlags
	cmd := &cobra.Command{
		Use:   "keygen [--key REF] -o FILE",
		Short: "Create a token keyset wrapped by an envelope key",
		Long: `Create a token keyset: a new AES-SIV key (deterministic tokens) and a new
HMAC-SHA256 PRF key (from which the FF1, hash and date-shift keys are
derived), both encrypted with the envelope key REF (a key file or kms:KEY;
default: the default key, created if needed). The keys are never written in
plaintext. An existing file is never overwritten.

` + exitCodeHelp,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.tokenKeygen(cmd.Context(), f.keys, &f.kms, f.out, nil)
		}),
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "key `REF` that wraps the keyset (repeatable: any one can unwrap it)")
	f.kms.addFlags(fl, false)
	fl.StringVarP(&f.out, "output", "o", "", "keyset `FILE` to create")
	return cmd
}

func (a *app) tokenRotateCmd() *cobra.Command {
	var f keysetFlags
	var out string
	cmd := &cobra.Command{
		Use:   "rotate --keyset FILE [--key REF] -o NEWFILE",
		Short: "Write a copy of a token keyset with new primary keys",
		Long: `Write a copy of the keyset with a new AES-SIV key and a new PRF key as
primaries, keeping the old keys so that old tokens still detokenize.
Deterministic tokens name their key; FF1 tokens do not, so with the new
keyset a policy with fpe fields must pin a PRF key with prf_key_id (the
new primary to tokenize, the old key to detokenize old FF1 tokens);
without it, tokenize and detokenize refuse.

` + exitCodeHelp,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			ks, err := a.loadKeyset(cmd.Context(), &f)
			if err != nil {
				return err
			}
			return a.tokenKeygen(cmd.Context(), f.keys, &f.kms, out, ks)
		}),
	}
	f.addFlags(cmd.Flags())
	cmd.Flags().StringVarP(&out, "output", "o", "", "new keyset `FILE` to create")
	return cmd
}

// tokenKeygen writes a new keyset (or a rotation of old) to out, wrapped
// by the keys refs. It is what 'mlseal keygen --kind token-keyset' would
// call.
func (a *app) tokenKeygen(ctx context.Context, refs []string, kf *kmsFlags, out string, old *tokenize.Keyset) error {
	if isStd(out) {
		return &cliError{err: errors.New("a keyset needs -o FILE"), code: exitUsage}
	}
	if _, err := os.Lstat(out); err == nil {
		return &cliError{err: fmt.Errorf("%s already exists; a keyset file is never overwritten", out),
			hint: "choose another file name"}
	}
	keys, err := a.encryptKeys(refs)
	if err != nil {
		return err
	}
	if keys, err = kf.resolve(keys, false); err != nil {
		return err
	}
	kr, err := keyring(keys)
	if err != nil {
		return err
	}
	var ks *tokenize.Keyset
	if old == nil {
		ks, err = tokenize.NewKeyset()
	} else {
		ks, err = old.Rotate()
	}
	if err != nil {
		return err
	}
	o, err := a.createOutput(out, false, 0o600)
	if err != nil {
		return err
	}
	if err := ks.Write(ctx, o.w, kr); err != nil {
		o.abort()
		return err
	}
	if err := o.commit(); err != nil {
		return err
	}
	info := ks.Info()
	describe := func(ki []tokenize.KeyInfo) string {
		var s []string
		for _, k := range ki {
			d := fmt.Sprint(k.ID)
			if k.Primary {
				d += " (primary)"
			}
			s = append(s, d)
		}
		return strings.Join(s, ", ")
	}
	a.logf("wrote token keyset %s, wrapped by %s", out, describeKeys(keys))
	a.logf("AES-SIV keys: %s; PRF keys: %s", describe(info.Deterministic), describe(info.PRF))
	if old == nil {
		a.logf(`pin the PRF key in policies that must detokenize fpe fields after a rotation: "prf_key_id": %d`, ks.PrimaryPRFKeyID())
	} else {
		a.logf(`policies with fpe fields must pin the PRF key to tokenize with this keyset: "prf_key_id": %d`, ks.PrimaryPRFKeyID())
	}
	return nil
}

// readerAt returns r as an io.ReaderAt with its size, as Parquet needs: a
// regular file as it is, anything else (stdin, a pipe) spooled to a
// temporary file that cleanup removes.
func readerAt(r io.Reader) (io.ReaderAt, int64, func(), error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return f, fi.Size(), func() {}, nil
		}
	}
	tmp, err := os.CreateTemp("", "mlseal-spool-*")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	n, err := io.Copy(tmp, r)
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("spooling the input to %s: %w", tmp.Name(), err)
	}
	return tmp, n, cleanup, nil
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/envelope/keyfile"
)

// keyKinds are the kinds of key that keygen makes.
var keyKinds = []string{keyfile.KindRawAES, keyfile.KindRawRSA, "token-keyset"}

type keygenFlags struct {
	kind      string
	namespace string
	name      string
	bits      int
	out       string
	publicOut string
	keys      []string // token-keyset: the envelope keys that wrap it
	kms       kmsFlags
}

func (a *app) keygenCmd() *cobra.Command {
	var f keygenFlags
	cmd := &cobra.Command{
		Use:   "keygen [flags] -o FILE",
		Short: "Create a new key file",
		Long: `Create a new key file, readable by its owner only (mode 0600).

A raw-aes key both encrypts and decrypts. A raw-rsa key pair can also be
written as a public-only copy (--public-out) that encrypts but cannot decrypt,
to hand to whoever should only encrypt. An existing file is never
overwritten. The namespace and name are stored in every message the key
encrypts, and must be the same when decrypting.

A token-keyset (--kind token-keyset --key REF) holds the keys of 'mlseal
tokenize', encrypted with the envelope key REF; it is the same as 'mlseal
tokenize keygen'.

` + exitCodeHelp,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.keygen(cmd, &f)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", keyfile.KindRawAES, "the kind of key: `"+strings.Join(keyKinds, "|")+"`")
	fl.StringVar(&f.namespace, "namespace", keyfile.DefaultNamespace, "key `NAMESPACE` (the provider id in messages)")
	fl.StringVar(&f.name, "name", "", "key `NAME` (default: FILE's base name without extension)")
	fl.IntVar(&f.bits, "bits", 0, fmt.Sprintf("key size in `BITS`: raw-aes 128, 192 or 256 (default %d), raw-rsa 2048 to 8192 (default %d)", keyfile.DefaultAESBits, keyfile.DefaultRSABits))
	fl.StringVarP(&f.out, "output", "o", "", "key `FILE` to create")
	fl.StringVar(&f.publicOut, "public-out", "", "also write a public-only copy of a raw-rsa key to `FILE`")
	fl.StringArrayVarP(&f.keys, "key", "k", nil, "token-keyset: envelope key `REF` that wraps the keyset (repeatable; default: the default key)")
	f.kms.addFlags(fl, false)
	return cmd
}

func (a *app) keygen(cmd *cobra.Command, f *keygenFlags) error {
	hint := fmt.Sprintf("see '%s --help'", cmd.CommandPath())
	if f.kind == "token-keyset" {
		return a.tokenKeygen(cmd.Context(), f.keys, &f.kms, f.out, nil)
	}
	switch {
	case isStd(f.out):
		p, _ := keyfile.DefaultPath()
		return &cliError{err: errors.New("keygen needs -o FILE; secret keys are never written to stdout"), code: exitUsage,
			hint: fmt.Sprintf("the default key, which encrypt creates when needed, is %s", p)}
	case f.kind != keyfile.KindRawAES && f.kind != keyfile.KindRawRSA:
		return &cliError{err: fmt.Errorf("unknown --kind %q", f.kind), code: exitUsage,
			hint: "--kind is one of " + strings.Join(keyKinds, ", ")}
	case f.kind != keyfile.KindRawRSA && f.publicOut != "":
		return &cliError{err: errors.New("--public-out is for --kind raw-rsa only"), code: exitUsage, hint: hint}
	case f.bits < 0:
		return usageErrorf("--bits must be positive")
	case f.publicOut == "-":
		return usageErrorf("--public-out needs a file name")
	case f.publicOut != "" && filepath.Clean(f.publicOut) == filepath.Clean(f.out):
		return usageErrorf("--public-out and -o name the same file")
	}
	name := f.name
	if name == "" {
		base := filepath.Base(f.out)
		name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	// Refuse before generating anything if either file exists.
	for _, p := range []string{f.out, f.publicOut} {
		if p == "" {
			continue
		}
		if _, err := os.Lstat(p); err == nil {
			return &cliError{err: fmt.Errorf("%s already exists; keygen never overwrites a key file", p),
				hint: "choose another file name, or remove the old key first if you are sure nothing needs it"}
		}
	}

	k, err := keyfile.Generate(keyfile.GenerateOptions{Kind: f.kind, Namespace: f.namespace, Name: name, Bits: f.bits})
	if err != nil {
		// Generate refuses only what the flags asked for: a size, a
		// namespace or a name.
		return &cliError{err: err, code: exitUsage, hint: hint}
	}
	if err := k.WriteNew(f.out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; keygen never overwrites a key file", f.out)
		}
		return namedOutput(err, f.out)
	}
	a.logf("wrote %s to %s", k, f.out)
	if f.publicOut != "" {
		pub, err := k.PublicOnly()
		if err != nil {
			return err
		}
		if err := pub.WriteNew(f.publicOut); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists; keygen never overwrites a key file", f.publicOut)
			}
			return namedOutput(err, f.publicOut)
		}
		a.logf("wrote its public-only copy to %s: it encrypts but cannot decrypt", f.publicOut)
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyfile"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
)

// A loadedKey is a key named on the command line (or the default key).
type loadedKey struct {
	path string
	file *keyfile.File
	kms  string           // the key identifier of a kms: reference (kms.go)
	ring envelope.Keyring // set for kms: keys and --discovery
	// timeout bounds all the KMS calls of one message (--kms-timeout).
	timeout time.Duration
}

func (k loadedKey) String() string {
	if k.file == nil {
		return k.path
	}
	return fmt.Sprintf("%s (%s)", k.path, k.file)
}

// schemeRE matches a "scheme:" prefix of a key reference. A single letter
// is not a scheme, so that Windows paths such as C:\k.key stay paths.
var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+):`)

// keyPath resolves a --key reference to a key file path. Only key files
// are supported for now: "file:PATH" or a plain PATH.
func keyPath(ref string) (string, error) {
	if ref == "" {
		return "", usageErrorf("--key needs a value")
	}
	m := schemeRE.FindStringSubmatch(ref)
	if m == nil {
		return ref, nil
	}
	switch scheme := strings.ToLower(m[1]); scheme {
	case "file":
		p := strings.TrimPrefix(ref[len(m[0]):], "//")
		if p == "" {
			return "", usageErrorf("--key %q names no file", ref)
		}
		return p, nil
	default:
		return "", &cliError{
			err:  fmt.Errorf("--key %q: unsupported key scheme %q", ref, scheme),
			code: exitUsage,
			hint: "--key takes a key file path or kms:KEY; to use a file whose name contains a colon, write ./" + ref,
		}
	}
}

// loadKeyFile loads one key file, explaining the common failures.
func loadKeyFile(path string) (loadedKey, error) {
	f, err := keyfile.Load(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return loadedKey{}, withHint(err, fmt.Sprintf("create a key with 'mlseal keygen -o %s'", path))
		default:
			fi, serr := os.Stat(path)
			if serr == nil && fi.IsDir() {
				return loadedKey{}, withHint(fmt.Errorf("key %s is a directory, not a key file", path),
					fmt.Sprintf("--key takes a key file, such as one made with 'mlseal keygen -o %s'", filepath.Join(path, "team.key")))
			}
			if serr == nil && fi.Mode().Perm()&0o077 != 0 {
				return loadedKey{}, withHint(err, fmt.Sprintf("a key file must be readable by its owner only: chmod 600 %s", path))
			}
			return loadedKey{}, err
		}
	}
	return loadedKey{path: path, file: f}, nil
}

// loadKeys loads the keys named by --key references.
func loadKeys(refs []string) ([]loadedKey, error) {
	var keys []loadedKey
	for _, ref := range refs {
		if id, ok := kmsRef(ref); ok {
			k, err := loadKMSKey(ref, id)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
			continue
		}
		p, err := keyPath(ref)
		if err != nil {
			return nil, err
		}
		k, err := loadKeyFile(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// encryptKeys loads the keys that encrypt: those of --key, or the default
// key, created the first time with a notice on stderr.
func (a *app) encryptKeys(refs []string) ([]loadedKey, error) {
	if len(refs) > 0 {
		return loadKeys(refs)
	}
	f, path, created, err := keyfile.LoadOrCreateDefault()
	if err != nil {
		return nil, withHint(fmt.Errorf("default key: %w", err), "pass --key FILE to use another key")
	}
	if created {
		a.logf("created a new default key at %s", path)
		a.logf("back it up: whoever loses this key loses the data encrypted with it")
	}
	return []loadedKey{{path: path, file: f}}, nil
}

// decryptKeys loads the keys that decrypt: those of --key, or the default
// key, which is never created here.
func (a *app) decryptKeys(refs []string) ([]loadedKey, error) {
	if len(refs) > 0 {
		keys, err := loadKeys(refs)
		if errors.Is(err, fs.ErrNotExist) {
			// A new key opens nothing that exists: no keygen hint here.
			return nil, withHint(withoutHint(err), "check the path: it must name the key file the data was encrypted with")
		}
		return keys, err
	}
	f, path, err := keyfile.LoadDefault()
	if err != nil {
		if path == "" {
			path, _ = keyfile.DefaultPath()
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &cliError{
				err:  fmt.Errorf("no --key given and no default key at %s", path),
				hint: "pass --key with the key file the data was encrypted with",
			}
		}
		return nil, withHint(fmt.Errorf("default key: %w", err), "pass --key FILE to use another key")
	}
	return []loadedKey{{path: path, file: f}}, nil
}

// keyring combines the keys: on encrypt each wraps the data key and the
// first generates it; on decrypt any of them may unwrap it. With KMS keys,
// one deadline bounds the work of all of them on a message.
func keyring(keys []loadedKey) (envelope.Keyring, error) {
	var rings []envelope.Keyring
	var timeout time.Duration
	for _, k := range keys {
		if k.ring == nil && k.kms != "" {
			var err error
			if k.ring, err = kmsKeyring(k.kms); err != nil {
				return nil, err
			}
			k.timeout = defaultKMSTimeout
		}
		timeout = max(timeout, k.timeout)
		if k.ring != nil {
			rings = append(rings, k.ring)
			continue
		}
		kr, err := k.file.Keyring()
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k.path, err)
		}
		rings = append(rings, kr)
	}
	kr := rings[0]
	if len(rings) > 1 {
		var err error
		if kr, err = multi.New(rings[0], rings[1:]...); err != nil {
			return nil, err
		}
	}
	return withDeadline(kr, timeout), nil
}

func describeKeys(keys []loadedKey) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}

// parseContext parses --context k=v pairs, split at the first "=".
func parseContext(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	ctx := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		switch {
		case !ok:
			return nil, &cliError{err: fmt.Errorf("--context %q is not KEY=VALUE", p), code: exitUsage}
		case k == "":
			return nil, usageErrorf("--context %q has an empty key", p)
		case strings.HasPrefix(k, "aws-crypto-"):
			return nil, usageErrorf("--context %q: keys starting with aws-crypto- are reserved", p)
		}
		if old, dup := ctx[k]; dup && old != v {
			return nil, usageErrorf("--context %q given twice with different values", k)
		}
		ctx[k] = v
	}
	return ctx, nil
}

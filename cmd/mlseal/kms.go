package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	"github.com/mlseal/mlseal/internal/awsconfig"
)

// kmsScheme prefixes key references that name AWS KMS keys:
// kms:<key ARN | key id | alias ARN | alias/NAME>.
const kmsScheme = "kms:"

// Limits of the data-key cache used when one run encrypts or decrypts
// several inputs with AWS KMS keys: one data key serves at most
// batchCacheMessages files and batchCacheMaxAge.
const (
	batchCacheMaxAge   = 5 * time.Minute
	batchCacheMessages = 10000
	// defaultKMSTimeout bounds each KMS operation, retries included.
	defaultKMSTimeout = time.Minute
)

// kmsFlags are the AWS KMS flags of encrypt, decrypt and verify.
type kmsFlags struct {
	endpoint  string
	region    string
	discovery bool
	accounts  []string
	partition string
	timeout   time.Duration

	clients awskms.ClientProvider // made on first use
}

func (f *kmsFlags) addFlags(fl *pflag.FlagSet, decrypt bool) {
	fl.StringVar(&f.endpoint, "kms-endpoint", "", "AWS KMS endpoint `URL` (default: AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL or the profile's)")
	fl.DurationVar(&f.timeout, "kms-timeout", defaultKMSTimeout, "give up on an AWS KMS call, retries included, after `DURATION`")
	fl.StringVar(&f.region, "region", "", "AWS `REGION` of KMS keys named without an ARN (default: AWS_REGION or the profile's)")
	if decrypt {
		fl.BoolVar(&f.discovery, "discovery", false, "let AWS KMS unwrap with any KMS key the message names (restrict with --discovery-account)")
		fl.StringArrayVar(&f.accounts, "discovery-account", nil, "with --discovery, only keys of AWS account `ID` (repeatable)")
		fl.StringVar(&f.partition, "discovery-partition", "", "with --discovery-account, the keys' AWS `PARTITION` (default aws)")
	}
}

// discoveryAsked reports whether any discovery flag is set: then no
// default key is looked for.
func (f *kmsFlags) discoveryAsked() bool {
	return f.discovery || len(f.accounts) > 0 || f.partition != ""
}

// kmsRef returns the key identifier of a kms: reference.
func kmsRef(ref string) (string, bool) {
	if len(ref) < len(kmsScheme) || !strings.EqualFold(ref[:len(kmsScheme)], kmsScheme) {
		return "", false
	}
	return ref[len(kmsScheme):], true
}

// loadKMSKey checks a kms: reference; its keyring is made by resolve, or
// by keyring with the default AWS configuration.
func loadKMSKey(ref, id string) (loadedKey, error) {
	if _, err := awskms.New(id, awskms.Options{Clients: awskms.ClientProviderFunc(nil)}); err != nil {
		return loadedKey{}, &cliError{
			err:  fmt.Errorf("--key %q: %v", ref, strings.TrimPrefix(err.Error(), "awskms: ")),
			code: exitUsage,
			hint: "name a KMS key as kms:arn:aws:kms:REGION:ACCOUNT:key/ID, kms:KEY-ID, kms:alias/NAME or kms:ALIAS-ARN",
		}
	}
	return loadedKey{path: ref, kms: id}, nil
}

func (f *kmsFlags) clientProvider() (awskms.ClientProvider, error) {
	if f.clients == nil {
		if f.endpoint != "" {
			if err := awsconfig.CheckEndpoint(f.endpoint); err != nil {
				return nil, &cliError{err: fmt.Errorf("--kms-endpoint: %w", err), code: exitUsage}
			}
		}
		f.clients = awskms.NewClientProvider(awsconfig.Options{Region: f.region, Endpoint: f.endpoint})
	}
	return f.clients, nil
}

// resolve makes the keyrings of the kms: keys with the flags' settings
// and, on decrypt with --discovery, adds a discovery keyring.
func (f *kmsFlags) resolve(keys []loadedKey, decrypt bool) ([]loadedKey, error) {
	if !decrypt || !f.discovery {
		switch {
		case len(f.accounts) > 0:
			return nil, &cliError{err: fmt.Errorf("--discovery-account needs --discovery"), code: exitUsage}
		case f.partition != "":
			return nil, &cliError{err: fmt.Errorf("--discovery-partition needs --discovery"), code: exitUsage}
		}
	}
	if f.partition != "" && len(f.accounts) == 0 {
		return nil, &cliError{err: fmt.Errorf("--discovery-partition needs --discovery-account"), code: exitUsage,
			hint: "a discovery filter names the accounts whose keys may be used, and their partition"}
	}
	need := f.discovery
	for _, k := range keys {
		need = need || k.kms != ""
	}
	if !need {
		return keys, nil
	}
	clients, err := f.clientProvider()
	if err != nil {
		return nil, err
	}
	if f.timeout <= 0 {
		return nil, &cliError{err: fmt.Errorf("--kms-timeout must be positive"), code: exitUsage}
	}
	opts := awskms.Options{Clients: clients, Timeout: f.timeout}
	out := slices.Clone(keys)
	for i, k := range out {
		if k.kms == "" {
			continue
		}
		if !decrypt {
			out[i].ring, err = awskms.New(k.kms, opts)
		} else {
			a, perr := awskms.ParseARN(k.kms)
			if perr != nil || a.ResourceType != "key" {
				return nil, &cliError{
					err:  fmt.Errorf("--key %s: %w", k.path, awskms.ErrNeedARN),
					code: exitUsage,
					hint: "'mlseal inspect' shows the key ARNs a message was encrypted with; or pass --discovery to let KMS use the key the message names",
				}
			}
			// Multi-Region aware: a replica opens what its primary wrapped.
			out[i].ring, err = awskms.NewMRK(k.kms, opts)
		}
		if err != nil {
			return nil, err
		}
	}
	if f.discovery {
		var filter *awskms.DiscoveryFilter
		if len(f.accounts) > 0 {
			filter = &awskms.DiscoveryFilter{Partition: f.partition, Accounts: f.accounts}
			if filter.Partition == "" {
				filter.Partition = "aws"
			}
		}
		d, err := awskms.NewDiscovery(filter, opts)
		if err != nil {
			return nil, &cliError{err: err, code: exitUsage}
		}
		out = append(out, loadedKey{path: "--discovery", ring: d})
	}
	return out, nil
}

func hasKMS(keys []loadedKey) bool {
	return slices.ContainsFunc(keys, func(k loadedKey) bool { return k.kms != "" || k.ring != nil })
}

// batchEncryptMaterials switches opts to a caching materials manager when
// a run encrypts several inputs with AWS KMS keys, so that one data key
// serves many files.
func batchEncryptMaterials(opts *envelope.EncryptOptions, keys []loadedKey, inputs int) error {
	if inputs < 2 || !hasKMS(keys) || opts.Keyring == nil {
		return nil
	}
	mm, err := cache.New(envelope.DefaultMaterials(opts.Keyring), cache.Options{MaxAge: batchCacheMaxAge, MaxMessages: batchCacheMessages})
	if err != nil {
		return err
	}
	opts.Materials, opts.Keyring = mm, nil
	return nil
}

// batchDecryptMaterials does the same on decrypt: files that share a data
// key cost one KMS Decrypt.
func batchDecryptMaterials(opts *envelope.DecryptOptions, keys []loadedKey, inputs int) error {
	if inputs < 2 || !hasKMS(keys) || opts.Keyring == nil {
		return nil
	}
	mm, err := cache.New(envelope.DefaultMaterials(opts.Keyring), cache.Options{MaxAge: batchCacheMaxAge})
	if err != nil {
		return err
	}
	opts.Materials, opts.Keyring = mm, nil
	return nil
}

// sizeHint is the length of an input that is a regular file, else 0
// (unknown), for EncryptOptions.SizeHint.
func sizeHint(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return 0
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return 0
	}
	return fi.Size() - off
}

// kmsKeyring is the keyring of a kms: key that resolve did not see: it
// uses the AWS configuration of the environment.
func kmsKeyring(id string) (envelope.Keyring, error) {
	return awskms.New(id, awskms.Options{Timeout: defaultKMSTimeout})
}

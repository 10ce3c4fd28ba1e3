package main

import (
	"context"
	"fmt"
	"io"
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
	// defaultKMSTimeout bounds the KMS calls of one message, retries
	// included, when --kms-timeout is not given.
	defaultKMSTimeout = time.Minute
)

// kmsFlags are the AWS KMS flags of encrypt, decrypt and verify.
type kmsFlags struct {
	endpoint  string
	region    string
	discovery bool
	regions   []string // --discovery-region
	accounts  []string
	partition string
	timeout   time.Duration

	clients awskms.ClientProvider // made on first use
}

func (f *kmsFlags) addFlags(fl *pflag.FlagSet, decrypt bool) {
	fl.StringVar(&f.endpoint, "kms-endpoint", "", "AWS KMS endpoint `URL` (default: AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL or the profile's)")
	fl.DurationVar(&f.timeout, "kms-timeout", defaultKMSTimeout, "give up on AWS KMS after `DURATION`: a total for all the KMS calls of one file or stream, every key and every retry included")
	fl.StringVar(&f.region, "region", "", "AWS `REGION` of KMS keys named without an ARN, and of --discovery (default: AWS_REGION or the profile's)")
	if decrypt {
		fl.BoolVar(&f.discovery, "discovery", false, "let AWS KMS in the configured region unwrap with any KMS key the message names that it can use, multi-Region keys through their replica there (restrict with --discovery-account)")
		fl.StringArrayVar(&f.regions, "discovery-region", nil, "discovery through AWS KMS in `REGION` instead of the configured region (repeatable: tried in order; implies --discovery)")
		fl.StringArrayVar(&f.accounts, "discovery-account", nil, "with --discovery, only keys of AWS account `ID` (repeatable)")
		fl.StringVar(&f.partition, "discovery-partition", "", "with --discovery-account, the keys' AWS `PARTITION` (default: that of the region asked, such as aws or aws-cn)")
	}
}

// discoveryAsked reports whether any discovery flag is set: then no
// default key is looked for.
func (f *kmsFlags) discoveryAsked() bool {
	return f.discovery || len(f.regions) > 0 || len(f.accounts) > 0 || f.partition != ""
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

// configuredRegion is the region that --discovery asks: --region, else
// that of the AWS configuration.
func (f *kmsFlags) configuredRegion() (string, error) {
	if f.region != "" {
		return f.region, nil
	}
	cfg, err := awsconfig.Load(context.Background(), awsconfig.Options{Endpoint: f.endpoint})
	if err == nil {
		err = awsconfig.RequireRegion(cfg)
	}
	if err != nil {
		return "", &cliError{err: fmt.Errorf("--discovery: %w", err), hint: "name the regions whose KMS may unwrap with --region REGION or --discovery-region REGION"}
	}
	return cfg.Region, nil
}

// resolve makes the keyrings of the kms: keys with the flags' settings
// and, on decrypt with --discovery, adds a discovery keyring.
func (f *kmsFlags) resolve(keys []loadedKey, decrypt bool) ([]loadedKey, error) {
	if len(f.regions) > 0 {
		f.discovery = true
	}
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
		out[i].timeout = f.timeout
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
		regions := f.regions
		if len(regions) == 0 {
			r, err := f.configuredRegion()
			if err != nil {
				return nil, err
			}
			regions = []string{r}
		}
		var filter *awskms.DiscoveryFilter
		if len(f.accounts) > 0 {
			filter = &awskms.DiscoveryFilter{Partition: f.partition, Accounts: f.accounts}
			if filter.Partition == "" {
				filter.Partition = awsconfig.Partition(regions[0])
			}
		}
		// Multi-Region aware: a message wrapped by a multi-Region key opens
		// with the key's replica in the region asked; other keys only in
		// their own region, never in one that the header names.
		var d envelope.Keyring
		if len(regions) == 1 {
			d, err = awskms.NewMRKDiscovery(regions[0], filter, opts)
		} else {
			d, err = awskms.NewMRKDiscoveryMulti(regions, filter, opts)
		}
		if err != nil {
			return nil, &cliError{err: err, code: exitUsage}
		}
		out = append(out, loadedKey{path: "--discovery", ring: d, timeout: f.timeout})
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

// deadlineKeyring bounds everything its keyring does for one message by
// one timeout: each KMS keyring bounds its own calls, so without it a
// message with several KMS keys could take the timeout once per key.
type deadlineKeyring struct {
	envelope.Keyring
	timeout time.Duration
}

// withDeadline returns kr bounded by timeout, or kr itself when timeout is
// zero (no KMS key).
func withDeadline(kr envelope.Keyring, timeout time.Duration) envelope.Keyring {
	if timeout <= 0 {
		return kr
	}
	return deadlineKeyring{Keyring: kr, timeout: timeout}
}

func (k deadlineKeyring) String() string { return fmt.Sprint(k.Keyring) }

func (k deadlineKeyring) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	return k.Keyring.OnEncrypt(ctx, m)
}

func (k deadlineKeyring) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	ctx, cancel := context.WithTimeout(ctx, k.timeout)
	defer cancel()
	return k.Keyring.OnDecrypt(ctx, m, edks)
}

// kmsKeyring is the keyring of a kms: key that resolve did not see: it
// uses the AWS configuration of the environment.
func kmsKeyring(id string) (envelope.Keyring, error) {
	return awskms.New(id, awskms.Options{Timeout: defaultKMSTimeout})
}

// setAWSDebug applies the global --debug flag: the AWS SDK's own log lines
// (warnings such as "falling back to IMDSv1", a checksum note per ranged
// S3 GET, retries) go to w, and are dropped otherwise.
func setAWSDebug(debug bool, w io.Writer) {
	if debug {
		awsconfig.SetDebugLog(w)
	} else {
		awsconfig.SetDebugLog(nil)
	}
}

package beam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
	"github.com/mlseal/mlseal/envelope/keyfile"
	"github.com/mlseal/mlseal/envelope/keyring/awskms"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/internal/awsconfig"
	"github.com/mlseal/mlseal/secrets"
)

// Limits of the per-worker data-key cache: one data key serves at most
// this many messages and this long, as in the mlseal command.
const (
	CacheMaxAge      = 5 * time.Minute
	CacheMaxMessages = 10000
)

// DefaultKMSTimeout bounds each AWS KMS call, retries included, when
// Keys.KMSTimeout is zero.
const DefaultKMSTimeout = time.Minute

// Keys names the keys of an operation by reference. A pipeline carries
// these references to its workers, which load the keys themselves (in a
// DoFn's Setup): key material never enters the pipeline graph, so it is
// never written to the runner's job description, staging bucket or logs.
//
// Each reference is one of
//
//	kms:KEY                     an AWS KMS key: ARN, key id, alias/NAME or alias ARN
//	                            (decrypting needs the key ARN)
//	PATH or file:PATH           a key file (envelope/keyfile) on the worker
//	secretsmanager://NAME[#k]   a key file's JSON held in AWS Secrets Manager
//	ssm:///NAME[#k]             a key file's JSON held in SSM Parameter Store
//
// On encrypt the first key generates the data key and every key wraps it;
// on decrypt any one of them may unwrap it.
type Keys struct {
	Refs []string
	// Region is the AWS region of KMS keys named without an ARN, and of
	// Secrets Manager and SSM; the standard configuration's when empty.
	Region string
	// KMSEndpoint overrides the AWS KMS endpoint (https, or http on loopback).
	KMSEndpoint string
	// KMSTimeout bounds each KMS call, DefaultKMSTimeout when zero.
	KMSTimeout time.Duration
}

// Check validates the references without loading any key, so that a
// pipeline fails at construction, not on its workers.
func (k Keys) Check() error {
	if len(k.Refs) == 0 {
		return errors.New("mlseal/beam: no key references: name at least one key (a key file, kms:KEY or secretsmanager://...)")
	}
	for _, ref := range k.Refs {
		switch kind, rest := refKind(ref); {
		case rest == "":
			return fmt.Errorf("mlseal/beam: key reference %q names nothing", ref)
		case kind == "kms":
			if _, err := awskms.New(rest, awskms.Options{Clients: awskms.ClientProviderFunc(nil)}); err != nil {
				return fmt.Errorf("mlseal/beam: key %q: %w", ref, err)
			}
		case kind == "secret":
			if _, err := secrets.ParseRef(ref); err != nil {
				return fmt.Errorf("mlseal/beam: key %q: %w", ref, err)
			}
		}
	}
	if k.KMSEndpoint != "" {
		if err := awsconfig.CheckEndpoint(k.KMSEndpoint); err != nil {
			return fmt.Errorf("mlseal/beam: KMS endpoint: %w", err)
		}
	}
	return nil
}

// refKind sorts a key reference into "kms", "secret" or "file", and
// returns what follows a kms: or file: prefix.
func refKind(ref string) (kind, rest string) {
	lower := strings.ToLower(ref)
	switch {
	case strings.HasPrefix(lower, "kms:"):
		return "kms", ref[len("kms:"):]
	case strings.HasPrefix(lower, secrets.SchemeSecretsManager+"://"), strings.HasPrefix(lower, secrets.SchemeSSM+"://"):
		return "secret", ref
	case strings.HasPrefix(lower, "file:"):
		return "file", strings.TrimPrefix(ref[len("file:"):], "//")
	}
	return "file", ref
}

// workerID identifies a per-worker value by the settings it is made from
// (references and options, never key material).
func workerID(parts ...any) string {
	b, err := json.Marshal(parts)
	if err != nil {
		panic(err) // only plain settings structs are passed
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// keyring loads the keys: on encrypt the first generates the data key and
// all wrap it, on decrypt any may unwrap it.
func (k Keys) keyring(ctx context.Context, decrypt bool) (envelope.Keyring, error) {
	rings, err := k.load(ctx, decrypt)
	if err != nil {
		return nil, err
	}
	if len(rings) == 1 {
		return rings[0], nil
	}
	return multi.New(rings[0], rings[1:]...)
}

// wrapping loads the keys as a keyring that wraps a data key it is given
// (none generates one), as rewrap needs.
func (k Keys) wrapping(ctx context.Context) (envelope.Keyring, error) {
	rings, err := k.load(ctx, false)
	if err != nil {
		return nil, err
	}
	return multi.New(nil, rings...)
}

// load loads each key. On decrypt, KMS keys must be named by key ARN and
// are multi-Region aware.
func (k Keys) load(ctx context.Context, decrypt bool) ([]envelope.Keyring, error) {
	if err := k.Check(); err != nil {
		return nil, err
	}
	timeout := k.KMSTimeout
	if timeout <= 0 {
		timeout = DefaultKMSTimeout
	}
	var (
		kmsOpts   *awskms.Options
		providers secrets.Providers
		rings     []envelope.Keyring
	)
	for _, ref := range k.Refs {
		kind, rest := refKind(ref)
		var (
			kr  envelope.Keyring
			err error
		)
		switch kind {
		case "kms":
			if kmsOpts == nil {
				kmsOpts = &awskms.Options{
					Clients: awskms.NewClientProvider(awsconfig.Options{Region: k.Region, Endpoint: k.KMSEndpoint}),
					Timeout: timeout,
				}
			}
			if decrypt {
				if a, perr := awskms.ParseARN(rest); perr != nil || a.ResourceType != "key" {
					return nil, fmt.Errorf("mlseal/beam: key %q: %w", ref, awskms.ErrNeedARN)
				}
				kr, err = awskms.NewMRK(rest, *kmsOpts)
			} else {
				kr, err = awskms.New(rest, *kmsOpts)
			}
		case "secret":
			if providers == nil {
				providers = secrets.NewProviders(secrets.AWSOptions{Region: k.Region, Timeout: timeout})
			}
			kr, err = secretKeyring(ctx, providers, ref)
		default:
			var f *keyfile.File
			if f, err = keyfile.Load(rest); err == nil {
				kr, err = f.Keyring()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("mlseal/beam: key %s: %w", ref, err)
		}
		rings = append(rings, kr)
	}
	return rings, nil
}

// secretKeyring reads a key file's JSON from a secret store. Errors name
// the reference, never the value.
func secretKeyring(ctx context.Context, p secrets.Providers, ref string) (envelope.Keyring, error) {
	r, err := secrets.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	s, err := p.Get(ctx, r)
	if err != nil {
		return nil, err
	}
	f, err := keyfile.Parse([]byte(s.Reveal()))
	if err != nil {
		return nil, errors.New("the secret's value is not a valid mlseal key file")
	}
	return f.Keyring()
}

// worker holds what the DoFns of one worker process share, by a key
// derived from their settings: keyrings, caching materials managers and
// tokenizers. Every bundle and every DoFn instance of the worker uses the
// same data-key cache, so a worker makes one KMS call per cache window, not
// one per file.
var worker = struct {
	sync.Mutex
	values map[string]*shared
}{values: map[string]*shared{}}

type shared struct {
	once sync.Once
	v    any
	err  error
}

// perWorker returns the worker's value for id, made by load on first use.
// Concurrent callers wait for the one load. A failed load is forgotten, so
// that a later bundle tries again: the failure may be passing (a network
// error), and a worker lives through many bundles.
func perWorker[T any](id string, load func() (T, error)) (T, error) {
	worker.Lock()
	s := worker.values[id]
	if s == nil {
		s = &shared{}
		worker.values[id] = s
	}
	worker.Unlock()
	s.once.Do(func() { s.v, s.err = load() })
	if s.err != nil {
		worker.Lock()
		if worker.values[id] == s {
			delete(worker.values, id)
		}
		worker.Unlock()
		var zero T
		return zero, s.err
	}
	return s.v.(T), nil
}

// materials returns the worker's caching materials manager for the keys.
func (k Keys) materials(ctx context.Context, decrypt bool) (envelope.MaterialsManager, error) {
	purpose := "encrypt"
	if decrypt {
		purpose = "decrypt"
	}
	return perWorker(workerID("materials", purpose, k), func() (envelope.MaterialsManager, error) {
		kr, err := k.keyring(ctx, decrypt)
		if err != nil {
			return nil, err
		}
		opts := cache.Options{MaxAge: CacheMaxAge}
		if !decrypt {
			opts.MaxMessages = CacheMaxMessages
		}
		return cache.New(envelope.DefaultMaterials(kr), opts)
	})
}

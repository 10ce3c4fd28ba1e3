package secrets

import (
	"context"
	"errors"
	"fmt"
)

// A Provider fetches secrets from one kind of store. Fetch returns the
// whole secret named by ref; it ignores ref's JSON key, which the caller
// applies (see [Select]). Providers are safe for concurrent use.
type Provider interface {
	Fetch(ctx context.Context, ref Ref) (Secret, error)
}

// A BatchProvider can fetch several secrets in one API call. The cache
// uses it for prefetching.
type BatchProvider interface {
	Provider
	// BatchSize returns how many references one FetchBatch call takes.
	BatchSize() int
	// Batchable reports whether ref can be fetched in a batch (Secrets
	// Manager's batch call reads AWSCURRENT only, for example).
	Batchable(ref Ref) bool
	// FetchBatch fetches up to BatchSize batchable references in one API
	// call. It returns a secret or an error for each reference, by index;
	// a reference with neither was not answered and should be fetched on
	// its own. The final error is for the call as a whole.
	FetchBatch(ctx context.Context, refs []Ref) ([]Secret, []error, error)
}

// Providers routes each reference to the provider of its scheme. The zero
// value has no providers; see [NewProviders] for the standard set.
type Providers map[string]Provider

// Fetch fetches ref from the provider of its scheme.
func (p Providers) Fetch(ctx context.Context, ref Ref) (Secret, error) {
	pr, err := p.provider(ref)
	if err != nil {
		return Secret{}, err
	}
	return pr.Fetch(ctx, ref)
}

func (p Providers) provider(ref Ref) (Provider, error) {
	if ref.IsZero() {
		return nil, errors.New("secrets: the zero Ref names no secret")
	}
	pr, ok := p[ref.scheme]
	if !ok || pr == nil {
		return nil, &Error{Ref: ref, Kind: ErrNoProvider, Err: fmt.Errorf("no provider for %s:// references is configured", ref.scheme)}
	}
	return pr, nil
}

// Get fetches ref and applies its JSON key: the uncached path, for one-off
// reads. Use a [Cache] for anything read more than once.
func (p Providers) Get(ctx context.Context, ref Ref) (Secret, error) {
	s, err := p.Fetch(ctx, ref.Source())
	if err != nil {
		return Secret{}, forRef(err, ref)
	}
	return Select(s, ref)
}

// forRef makes an error of fetching ref's source name ref itself, key
// included, for the caller's messages.
func forRef(err error, ref Ref) error {
	var e *Error
	if ref.key == "" || !errors.As(err, &e) || e.Ref != ref.Source() {
		return err
	}
	c := *e
	c.Ref = ref
	return &c
}

// Select applies ref's JSON key to s, the whole secret: it returns s
// itself when ref has no key, and otherwise the selected member with s's
// metadata. Its errors wrap [ErrKey] and name the key, never the value.
func Select(s Secret, ref Ref) (Secret, error) {
	if ref.key == "" {
		return s, nil
	}
	v, err := selectKey(s.Reveal(), ref.KeyPath())
	if err != nil {
		return Secret{}, &Error{Ref: ref, Kind: ErrKey, Err: err}
	}
	return Secret{&secretValue{plain: &v, meta: s.v.meta}}, nil
}

// Kinds of failure, for errors.Is on the errors of providers and caches.
var (
	// ErrNotFound: no such secret, parameter, version, stage, label,
	// variable or file.
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied: the caller may not read it.
	ErrAccessDenied = errors.New("access denied")
	// ErrDecryption: the service could not decrypt it with its KMS key.
	ErrDecryption = errors.New("cannot be decrypted")
	// ErrThrottled: the service throttled the calls, even after retries.
	ErrThrottled = errors.New("throttled")
	// ErrNoProvider: no provider is configured for the reference's scheme.
	ErrNoProvider = errors.New("no provider")
	// ErrInvalid: the secret exists but cannot be used (deleted, binary
	// where text is needed, too large, not valid in the environment...).
	ErrInvalid = errors.New("not usable")
)

// Error is the error of fetching or selecting one secret. It names the
// reference; it never contains the value.
type Error struct {
	Ref  Ref
	Kind error // ErrNotFound, ErrAccessDenied, ..., or nil
	Err  error // the underlying error
}

func (e *Error) Error() string {
	switch {
	case e.Kind == nil:
		return fmt.Sprintf("secret %s: %v", e.Ref, e.Err)
	case e.Err == nil:
		return fmt.Sprintf("secret %s: %v", e.Ref, e.Kind)
	case e.Kind == ErrKey:
		return fmt.Sprintf("secret %s: %v", e.Ref, e.Err)
	}
	return fmt.Sprintf("secret %s: %v: %v", e.Ref, e.Kind, e.Err)
}

func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

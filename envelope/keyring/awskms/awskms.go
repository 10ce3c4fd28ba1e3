// Package awskms implements the AWS Encryption SDK's AWS KMS keyrings
// (framework/aws-kms/ in awslabs/aws-encryption-sdk-specification), so that
// messages interoperate with the other ESDKs: each wrapped data key has the
// provider id "aws-kms" and the key ARN as its provider info.
//
//   - New: the strict keyring. On encrypt, the generator calls
//     GenerateDataKey; a keyring given a data key calls Encrypt. On decrypt,
//     only wrapped keys whose provider info is this keyring's key ARN are
//     tried, with Decrypt naming the key, and the key id of the answer is
//     checked. Strict decrypt needs a key ARN; aliases and key ids name keys
//     for encrypt only.
//   - NewMRK: the same, aware of multi-Region keys: on decrypt, a replica
//     opens what any key of its multi-Region family wrapped.
//   - NewDiscovery: decrypt only; any "aws-kms" wrapped key, restricted by
//     an optional filter on account and partition, through the client of
//     the configured region, as the specification says: an unauthenticated
//     header never chooses where mlseal sends requests.
//   - NewMRKDiscovery: decrypt only, in one region: multi-Region keys are
//     opened by their replica in that region, other keys only if they are in
//     it.
//   - NewDiscoveryMulti, NewMRKDiscoveryMulti: one discovery keyring per
//     region given, tried in order.
//
// Every call carries the whole encryption context (so that it appears in
// CloudTrail and can be used in key policy conditions) and the grant tokens,
// and honours the context's deadline. Errors name the operation and the key
// and say why in words (see Error). On decrypt, the error wraps
// envelope.ErrNoDataKey only when KMS said that a wrapped key is not this
// key's or not for this encryption context, for every candidate: a key that
// is disabled, pending deletion, unknown or not allowed to the caller,
// throttling that outlasts the retries, outages, missing credentials and
// deadlines are returned without it, so that they are not taken for a
// message that cannot be opened.
//
// This is the only package of mlseal's envelope that imports the AWS SDK.
package awskms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/internal/awsconfig"
)

// ProviderID is the provider id of data keys wrapped by AWS KMS.
const ProviderID = "aws-kms"

// Options configure a keyring. The zero value works: clients come from the
// standard AWS configuration chain.
type Options struct {
	// Clients supplies the KMS client of each region, by default
	// NewClientProvider(awsconfig.Options{}).
	Clients ClientProvider
	// GrantTokens are passed with every call.
	GrantTokens []string
	// Timeout bounds each KMS operation, its retries included, on top of
	// the caller's context; zero leaves only the caller's deadline.
	Timeout time.Duration
}

// withTimeout applies a keyring's Timeout to ctx.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (o Options) clients() ClientProvider {
	if o.Clients != nil {
		return o.Clients
	}
	return NewClientProvider(awsconfig.Options{})
}

// Keyring is a strict AWS KMS keyring for one KMS key: it wraps data keys
// under that key and unwraps only what that key wrapped.
type Keyring struct {
	id      string
	arn     *ARN // nil unless id is an ARN
	mrk     bool // multi-Region aware on decrypt
	clients ClientProvider
	grants  []string
	timeout time.Duration
}

// New returns a strict keyring for the KMS key named by keyID: a key ARN, a
// key id, an alias ARN or "alias/NAME" (the last three for encrypt only).
// The key's region is the one in its ARN, else the configuration's default.
func New(keyID string, opts Options) (*Keyring, error) {
	return newKeyring(keyID, false, opts)
}

// NewMRK returns a strict keyring aware of multi-Region keys: on decrypt,
// if keyID is a multi-Region key ARN, it also opens data keys wrapped by
// the keys of the same multi-Region family in other regions, calling KMS in
// keyID's region (framework/aws-kms/aws-kms-mrk-keyring.md). Otherwise it
// behaves as New.
func NewMRK(keyID string, opts Options) (*Keyring, error) {
	return newKeyring(keyID, true, opts)
}

func newKeyring(keyID string, mrk bool, opts Options) (*Keyring, error) {
	if err := validIdentifier(keyID); err != nil {
		return nil, fmt.Errorf("awskms: %w", err)
	}
	k := &Keyring{id: keyID, mrk: mrk, clients: opts.clients(), grants: slices.Clone(opts.GrantTokens), timeout: opts.Timeout}
	if strings.HasPrefix(keyID, "arn:") {
		a, _ := ParseARN(keyID)
		k.arn = &a
	}
	return k, nil
}

// String names the key.
func (k *Keyring) String() string { return "AWS KMS key " + k.id }

// KeyID returns the key identifier the keyring was made with.
func (k *Keyring) KeyID() string { return k.id }

func (k *Keyring) region() string {
	if k.arn != nil {
		return k.arn.Region
	}
	return ""
}

// OnEncrypt generates the data key with GenerateDataKey when m has none,
// or else wraps m's data key with Encrypt, and appends the wrapped key.
func (k *Keyring) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	ctx, cancel := withTimeout(ctx, k.timeout)
	defer cancel()
	c, err := k.clients.Client(ctx, k.region())
	if err != nil {
		return fmt.Errorf("awskms: key %s: %w", k.id, err)
	}
	n := m.Suite.DataKeyLen()
	if n == 0 {
		return fmt.Errorf("awskms: unknown algorithm suite %s", m.Suite)
	}
	if m.DataKey == nil {
		out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
			KeyId:             &k.id,
			NumberOfBytes:     ptr(int32(n)),
			EncryptionContext: m.Context,
			GrantTokens:       k.grants,
		})
		if err != nil {
			return &Error{Op: "GenerateDataKey", Key: k.id, Err: err}
		}
		if len(out.Plaintext) != n {
			return &Error{Op: "GenerateDataKey", Key: k.id, Err: fmt.Errorf("KMS returned a %d-byte data key, not %d", len(out.Plaintext), n)}
		}
		arn, err := responseARN(out.KeyId)
		if err != nil {
			return &Error{Op: "GenerateDataKey", Key: k.id, Err: err}
		}
		m.DataKey = out.Plaintext
		m.EncryptedDataKeys = append(m.EncryptedDataKeys, envelope.EncryptedDataKey{
			ProviderID: ProviderID, ProviderInfo: []byte(arn), Ciphertext: out.CiphertextBlob,
		})
		return nil
	}
	out, err := c.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             &k.id,
		Plaintext:         m.DataKey,
		EncryptionContext: m.Context,
		GrantTokens:       k.grants,
	})
	if err != nil {
		return &Error{Op: "Encrypt", Key: k.id, Err: err}
	}
	arn, err := responseARN(out.KeyId)
	if err != nil {
		return &Error{Op: "Encrypt", Key: k.id, Err: err}
	}
	m.EncryptedDataKeys = append(m.EncryptedDataKeys, envelope.EncryptedDataKey{
		ProviderID: ProviderID, ProviderInfo: []byte(arn), Ciphertext: out.CiphertextBlob,
	})
	return nil
}

// responseARN checks that KMS answered with a key ARN, as it always does.
func responseARN(id *string) (string, error) {
	if id == nil {
		return "", errors.New("KMS returned no key id")
	}
	a, err := ParseARN(*id)
	if err != nil || a.ResourceType != "key" {
		return "", fmt.Errorf("KMS returned key id %q, not a key ARN", *id)
	}
	return *id, nil
}

// ErrNeedARN is returned (wrapped) by a strict keyring asked to decrypt
// when it was made with a key id or an alias: messages name their keys by
// key ARN, so only a key ARN can say which wrapped keys are its own.
var ErrNeedARN = errors.New("decrypting with a strict AWS KMS keyring needs a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID); key ids and aliases name keys for encrypt only")

// OnDecrypt calls Decrypt, naming its key, for each wrapped key whose
// provider info is this keyring's key ARN (or, for NewMRK, a key of the
// same multi-Region family), until one opens.
func (k *Keyring) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	if m.DataKey != nil {
		return nil
	}
	if k.arn == nil || k.arn.ResourceType != "key" {
		return fmt.Errorf("awskms: key %s: %w", k.id, ErrNeedARN)
	}
	var cands []envelope.EncryptedDataKey
	for _, edk := range edks {
		if edk.ProviderID != ProviderID {
			continue
		}
		info := string(edk.ProviderInfo)
		if _, err := keyARNOf(info); err != nil {
			return err
		}
		if info == k.id || (k.mrk && MRKMatch(k.id, info)) {
			cands = append(cands, edk)
		}
	}
	if len(cands) == 0 {
		return fmt.Errorf("awskms: %w: the message has no data key wrapped by %s", envelope.ErrNoDataKey, k.id)
	}
	ctx, cancel := withTimeout(ctx, k.timeout)
	defer cancel()
	c, err := k.clients.Client(ctx, k.arn.Region)
	if err != nil {
		return fmt.Errorf("awskms: key %s: %w", k.id, err)
	}
	return decryptFirst(ctx, m, len(cands), func(i int) (string, Client, envelope.EncryptedDataKey, error) {
		return k.id, c, cands[i], nil
	}, k.grants)
}

// keyARNOf checks the provider info of an aws-kms wrapped key: the
// specification requires a key ARN, and a message with anything else there
// fails to decrypt.
func keyARNOf(info string) (ARN, error) {
	a, err := ParseARN(info)
	if err == nil && a.ResourceType != "key" {
		err = fmt.Errorf("%q names an alias, not a key", info)
	}
	if err != nil {
		return ARN{}, fmt.Errorf("awskms: %w: a data key wrapped by aws-kms has provider info that is not a key ARN: %v", envelope.ErrMalformed, err)
	}
	return a, nil
}

// decryptFirst tries n candidates in order and sets m.DataKey from the
// first that KMS decrypts and whose answer checks out. The error wraps
// envelope.ErrNoDataKey only if every attempt was refused.
func decryptFirst(ctx context.Context, m *envelope.DecryptionMaterials, n int,
	cand func(i int) (keyID string, c Client, edk envelope.EncryptedDataKey, err error), grants []string) error {
	var errs []error
	refused := true
	for i := range n {
		keyID, c, edk, err := cand(i)
		if err != nil {
			// No client for the region: not a refusal by KMS.
			errs = append(errs, fmt.Errorf("key %s: %w", keyID, err))
			refused = false
			continue
		}
		out, err := c.Decrypt(ctx, &kms.DecryptInput{
			KeyId:             &keyID,
			CiphertextBlob:    edk.Ciphertext,
			EncryptionContext: m.Context,
			GrantTokens:       grants,
		})
		switch {
		case err != nil:
		case out.KeyId == nil || *out.KeyId != keyID:
			err = &responseError{fmt.Sprintf("KMS answered for key %v, not the key asked for", deref(out.KeyId))}
		case len(out.Plaintext) != m.Suite.DataKeyLen():
			err = &responseError{fmt.Sprintf("KMS returned a %d-byte data key, suite %s needs %d", len(out.Plaintext), m.Suite, m.Suite.DataKeyLen())}
		default:
			m.DataKey = out.Plaintext
			return nil
		}
		err = &Error{Op: "Decrypt", Key: keyID, Err: err}
		errs = append(errs, err)
		if !refusal(err) {
			refused = false
			if ctx.Err() != nil {
				break
			}
		}
	}
	joined := errors.Join(errs...)
	if refused {
		return fmt.Errorf("awskms: %w: %w", envelope.ErrNoDataKey, joined)
	}
	return fmt.Errorf("awskms: no data key unwrapped: %w", joined)
}

// A DiscoveryFilter restricts a discovery keyring to keys of some accounts
// in one partition.
type DiscoveryFilter struct {
	Partition string   // such as "aws", "aws-cn", "aws-us-gov"
	Accounts  []string // AWS account ids
}

func (f *DiscoveryFilter) check() error {
	if f == nil {
		return nil
	}
	if f.Partition == "" || len(f.Accounts) == 0 || slices.Contains(f.Accounts, "") {
		return errors.New("awskms: a discovery filter needs a partition and at least one account id")
	}
	return nil
}

func (f *DiscoveryFilter) allows(a ARN) bool {
	return f == nil || (a.Partition == f.Partition && slices.Contains(f.Accounts, a.Account))
}

// Discovery is a decrypt-only keyring that asks KMS, through the client of
// one region, to open any data key wrapped by AWS KMS, within its filter.
// It never calls KMS in a region that a message names: a header is not
// authenticated when the keyring reads it.
type Discovery struct {
	filter  *DiscoveryFilter
	region  string // the client's region; "" for the configuration's default
	mrk     bool   // multi-Region aware
	clients ClientProvider
	grants  []string
	timeout time.Duration
}

// NewDiscovery returns the specification's discovery keyring
// (framework/aws-kms/aws-kms-discovery-keyring.md): it tries every
// "aws-kms" wrapped key whose ARN passes filter (nil for none) with
// Decrypt naming that ARN, through the client of the configuration's
// default region. KMS refuses keys of other regions there: see
// NewMRKDiscovery and NewDiscoveryMulti. The caller needs kms:Decrypt on
// the keys. It cannot encrypt.
func NewDiscovery(filter *DiscoveryFilter, opts Options) (*Discovery, error) {
	return newDiscovery("", false, filter, opts)
}

// NewMRKDiscovery returns a discovery keyring for one region that is aware
// of multi-Region keys (framework/aws-kms/aws-kms-mrk-discovery-keyring.md):
// a data key wrapped by a multi-Region key is opened by the key's replica in
// region; any other key is tried only if it is in region.
func NewMRKDiscovery(region string, filter *DiscoveryFilter, opts Options) (*Discovery, error) {
	if region == "" {
		return nil, errors.New("awskms: a multi-Region discovery keyring needs a region")
	}
	return newDiscovery(region, true, filter, opts)
}

func newDiscovery(region string, mrk bool, filter *DiscoveryFilter, opts Options) (*Discovery, error) {
	if err := filter.check(); err != nil {
		return nil, err
	}
	return &Discovery{filter: cloneFilter(filter), region: region, mrk: mrk, clients: opts.clients(),
		grants: slices.Clone(opts.GrantTokens), timeout: opts.Timeout}, nil
}

// NewDiscoveryMulti returns the specification's discovery multi-keyring
// (framework/aws-kms/aws-kms-multi-keyrings.md): a discovery keyring for
// each region, tried in order.
func NewDiscoveryMulti(regions []string, filter *DiscoveryFilter, opts Options) (envelope.Keyring, error) {
	return discoveryMulti(regions, false, filter, opts)
}

// NewMRKDiscoveryMulti returns the specification's multi-Region aware
// discovery multi-keyring (framework/aws-kms/aws-kms-mrk-multi-keyrings.md):
// an NewMRKDiscovery keyring for each region, tried in order.
func NewMRKDiscoveryMulti(regions []string, filter *DiscoveryFilter, opts Options) (envelope.Keyring, error) {
	return discoveryMulti(regions, true, filter, opts)
}

func discoveryMulti(regions []string, mrk bool, filter *DiscoveryFilter, opts Options) (envelope.Keyring, error) {
	if len(regions) == 0 {
		return nil, errors.New("awskms: a discovery multi-keyring needs at least one region")
	}
	opts.Clients = opts.clients() // one provider, and so one configuration, for all
	var rings []envelope.Keyring
	for _, r := range regions {
		if r == "" {
			return nil, errors.New("awskms: a discovery multi-keyring was given an empty region")
		}
		d, err := newDiscovery(r, mrk, filter, opts)
		if err != nil {
			return nil, err
		}
		rings = append(rings, d)
	}
	return multi.New(nil, rings...)
}

func cloneFilter(f *DiscoveryFilter) *DiscoveryFilter {
	if f == nil {
		return nil
	}
	return &DiscoveryFilter{Partition: f.Partition, Accounts: slices.Clone(f.Accounts)}
}

// String describes the keyring.
func (d *Discovery) String() string {
	s := "AWS KMS discovery"
	switch {
	case d.mrk:
		s += " (multi-Region aware) in " + d.region
	case d.region != "":
		s += " in " + d.region
	}
	if d.filter != nil {
		s += fmt.Sprintf(" of accounts %s in partition %s", strings.Join(d.filter.Accounts, ","), d.filter.Partition)
	}
	return s
}

// OnEncrypt fails: a discovery keyring names no key to encrypt with.
func (d *Discovery) OnEncrypt(context.Context, *envelope.EncryptionMaterials) error {
	return errors.New("awskms: a discovery keyring cannot encrypt: name a KMS key")
}

// OnDecrypt tries each matching wrapped key in turn until KMS opens one.
func (d *Discovery) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	if m.DataKey != nil {
		return nil
	}
	type cand struct {
		keyID string
		edk   envelope.EncryptedDataKey
	}
	var cands []cand
	var elsewhere []string // regions of keys an MRK keyring may not try
	for _, edk := range edks {
		if edk.ProviderID != ProviderID {
			continue
		}
		a, err := keyARNOf(string(edk.ProviderInfo))
		if err != nil {
			return err
		}
		if !d.filter.allows(a) {
			continue
		}
		if d.mrk {
			if !a.IsMRK() && a.Region != d.region {
				if !slices.Contains(elsewhere, a.Region) {
					elsewhere = append(elsewhere, a.Region)
				}
				continue
			}
			a.Region = d.region
		}
		cands = append(cands, cand{keyID: a.String(), edk: edk})
	}
	if len(cands) == 0 {
		if len(elsewhere) > 0 {
			return fmt.Errorf("awskms: %w: the message's AWS KMS keys are single-Region keys in %s, which %s does not try: ask KMS in %s",
				envelope.ErrNoDataKey, strings.Join(elsewhere, ", "), d, strings.Join(elsewhere, " or "))
		}
		return fmt.Errorf("awskms: %w: the message has no data key wrapped by AWS KMS that %s may try", envelope.ErrNoDataKey, d)
	}
	ctx, cancel := withTimeout(ctx, d.timeout)
	defer cancel()
	c, err := d.clients.Client(ctx, d.region)
	if err != nil {
		return fmt.Errorf("awskms: %s: %w", d, err)
	}
	return decryptFirst(ctx, m, len(cands), func(i int) (string, Client, envelope.EncryptedDataKey, error) {
		return cands[i].keyID, c, cands[i].edk, nil
	}, d.grants)
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

// Keys returns the ARNs of the AWS KMS keys that wrapped data keys in a
// message's header, in order, without duplicates: what a discovery keyring
// would try, and what a policy for decrypting the message must allow.
func Keys(h *envelope.Header) []string {
	var out []string
	for _, edk := range h.EncryptedDataKeys {
		if edk.ProviderID == ProviderID && !slices.Contains(out, string(edk.ProviderInfo)) {
			out = append(out, string(edk.ProviderInfo))
		}
	}
	return out
}

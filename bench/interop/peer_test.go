package interop_test

import (
	"maps"
	"testing"
)

// A peer is another implementation of the message format. Tests hand it
// all their work at once, in a batch, since the JavaScript peer costs a
// node process per batch.
type peer interface {
	Name() string
	// Supports reports whether the peer can wrap (decrypt false) or unwrap
	// (decrypt true) data keys with k.
	Supports(k wrapKey, decrypt bool) bool
	// Run does every job and fills in its results.
	Run(t *testing.T, encs []*encJob, decs []*decJob)
}

// Commitment policies, by the specification's names.
const (
	requireRequire = "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
	forbidAllow    = "FORBID_ENCRYPT_ALLOW_DECRYPT"
)

// An encJob asks a peer to encrypt.
type encJob struct {
	Name        string
	Plaintext   []byte
	Keys        []wrapKey // the first generates the data key
	Suite       uint16    // 0: the peer's default
	FrameLength int       // 0: the peer's default
	Context     map[string]string
	// RequiredKeys (Go peer only) makes the peer use the required
	// encryption context CMM with these keys.
	RequiredKeys []string
	// Policy is the commitment policy, requireRequire when empty.
	Policy string
	// LocaleSort (JavaScript peer only) leaves the raw AES keyring's
	// utf8Sorting at the SDK's default, false.
	LocaleSort bool

	Ciphertext []byte
	Err        error
}

// A decJob asks a peer to decrypt.
type decJob struct {
	Name       string
	Ciphertext []byte
	Keys       []wrapKey
	// Context (Go peer only) is the encryption context the caller
	// supplies, and RequiredKeys the keys of a required encryption context
	// CMM around the keyring.
	Context      map[string]string
	RequiredKeys []string
	Policy       string
	LocaleSort   bool

	Plaintext []byte
	// What the peer reports: the suite, the frame length (JavaScript peer
	// only, else 0) and the encryption context (the JavaScript peer: as
	// stored in the header; the Go peer: the whole context, required keys
	// included).
	Suite       uint16
	FrameLength int
	PeerContext map[string]string
	Err         error
}

// A batch collects the jobs of one test for one peer, each with the check
// to run on its result as a subtest.
type batch struct {
	encs   []*encJob
	decs   []*decJob
	checks []check
}

type check struct {
	name string
	fn   func(t *testing.T)
}

func (b *batch) encrypt(j *encJob, fn func(t *testing.T, j *encJob)) {
	b.encs = append(b.encs, j)
	b.checks = append(b.checks, check{j.Name, func(t *testing.T) { fn(t, j) }})
}

func (b *batch) decrypt(j *decJob, fn func(t *testing.T, j *decJob)) {
	b.decs = append(b.decs, j)
	b.checks = append(b.checks, check{j.Name, func(t *testing.T) { fn(t, j) }})
}

// fail records a case that could not be set up (mlseal failed to encrypt):
// it fails as its own subtest.
func (b *batch) fail(name string, err error) {
	b.checks = append(b.checks, check{name, func(t *testing.T) { t.Fatal(err) }})
}

func (b *batch) run(t *testing.T, p peer) {
	t.Helper()
	p.Run(t, b.encs, b.decs)
	for _, c := range b.checks {
		t.Run(c.name, c.fn)
	}
}

// forEachPeer runs fn as a subtest for each peer, then the batch it filled.
// A peer that is not installed skips its subtest (or fails it under CI).
func forEachPeer(t *testing.T, fn func(t *testing.T, p peer, b *batch)) {
	for _, name := range []string{"go", "js"} {
		t.Run(name, func(t *testing.T) {
			var p peer
			switch name {
			case "go":
				gp, err := newGoPeer()
				if err != nil {
					t.Fatalf("AWS Encryption SDK for Go: %v", err)
				}
				p = gp
			case "js":
				p = needJSPeer(t)
			}
			b := new(batch)
			fn(t, p, b)
			b.run(t, p)
		})
	}
}

// withoutPublicKey returns the context without the signed suites' reserved
// "aws-crypto-public-key" pair, which SDKs add and report.
func withoutPublicKey(c map[string]string) map[string]string {
	c = maps.Clone(c)
	delete(c, "aws-crypto-public-key")
	if c == nil {
		c = map[string]string{}
	}
	return c
}

// sameContext compares contexts, nil and empty being the same.
func sameContext(a, b map[string]string) bool {
	return len(a) == len(b) && (len(a) == 0 || maps.Equal(a, b))
}

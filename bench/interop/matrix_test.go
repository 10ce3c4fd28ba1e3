package interop_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

const (
	suiteCommit       = uint16(envelope.AES256GCMHKDFSHA512CommitKey)          // 0x0478
	suiteCommitSigned = uint16(envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384) // 0x0578
)

var suites = []uint16{suiteCommit, suiteCommitSigned}

// contexts of the matrix. "pairs" has keys whose order differs between a
// plain byte sort and a case-insensitive or locale sort ("Zone" < "a" <
// "b"); "unicode" has keys whose UTF-8 order differs from their UTF-16
// order (U+FF21 sorts before U+1F600 in UTF-8, after it in UTF-16), combining
// marks and a precomposed twin, and multi-byte values. The specification
// sorts by the keys' UTF-8 bytes.
var contexts = []struct {
	name string
	ctx  map[string]string
}{
	{"empty", nil},
	{"pairs", map[string]string{
		"purpose": "interop", "tenant": "t-42", "Zone": "eu-west", "a": "1", "b": "",
		"path": "/x/y z?q=1&r=2", "long": string(make([]byte, 300)),
	}},
	{"unicode", map[string]string{
		"日本語": "値", "ключ": "значение", "\U0001F600": "emoji", "\uFF21": "fullwidth A",
		"café": "crème brûlée", "cafe\u0301": "combining", "Ω": "\u0000nul\u0000",
	}},
}

// plaintextSource is one random buffer that every case slices its
// plaintext from, at an offset of its own.
var plaintextSource = func() []byte {
	b := make([]byte, 3<<20+64<<10)
	r := rand.NewChaCha8([32]byte{'m', 'l', 's', 'e', 'a', 'l'})
	r.Read(b)
	return b
}()

func plaintext(i, n int) []byte {
	off := (i * 4099) % (len(plaintextSource) - n + 1)
	return plaintextSource[off : off+n]
}

// matrixCase is one message of the matrix, made in both directions.
type matrixCase struct {
	key   wrapKey
	suite uint16
	frame int // 0: mlseal's default, which the peer is given explicitly
	size  int
	ctx   int // index into contexts
}

func (c matrixCase) String() string {
	frame := fmt.Sprint(c.frame)
	if c.frame == 0 {
		frame = fmt.Sprintf("default%d", envelope.DefaultFrameLength)
	}
	return fmt.Sprintf("%s/0x%04X/frame=%s/size=%d/ctx=%s", c.key, c.suite, frame, c.size, contexts[c.ctx].name)
}

func (c matrixCase) frameLength() int {
	if c.frame == 0 {
		return envelope.DefaultFrameLength
	}
	return c.frame
}

// matrix returns the cases, in three sets:
//   - every frame length with plaintext sizes around its boundaries (0, 1,
//     frame-1, frame, frame+1, 3*frame+17), both suites and every context,
//     the keys rotating through them;
//   - every key with both suites and every boundary size, the frame length
//     and context rotating;
//   - every key with both suites and every context at small and odd frame
//     lengths (1, 100, 512, 4097, 65535).
func matrix(k *testKeys) []matrixCase {
	keys := []wrapKey{
		k.aes256,
		k.aes128,
		k.aes192,
		k.rsa2048.withPadding("oaep-sha1"),
		k.rsa2048.withPadding("oaep-sha256"),
		k.rsa2048.withPadding("oaep-sha384"),
		k.rsa2048.withPadding("oaep-sha512"),
		k.rsa4096.withPadding("oaep-sha512"),
	}
	frames := []int{4096, 64 << 10, 1 << 20, 0}
	sizes := func(frame int) []int {
		f := frame
		if f == 0 {
			f = envelope.DefaultFrameLength
		}
		return []int{0, 1, f - 1, f, f + 1, 3*f + 17}
	}
	var cases []matrixCase
	i := 0
	add := func(c matrixCase) {
		cases = append(cases, c)
		i++
	}
	for _, frame := range frames {
		for _, size := range sizes(frame) {
			for _, suite := range suites {
				for c := range contexts {
					add(matrixCase{key: keys[i%len(keys)], suite: suite, frame: frame, size: size, ctx: c})
				}
			}
		}
	}
	for n, key := range keys {
		for _, suite := range suites {
			for s := range 6 {
				frame := frames[(n+s)%len(frames)]
				add(matrixCase{key: key, suite: suite, frame: frame, size: sizes(frame)[s], ctx: i % len(contexts)})
			}
		}
	}
	odd := []struct{ frame, size int }{{1, 257}, {100, 1000}, {4097, 3*4097 + 5}, {512, 0}, {65535, 70000}}
	for _, key := range keys {
		for _, suite := range suites {
			for c := range contexts {
				add(matrixCase{key: key, suite: suite, frame: odd[i%len(odd)].frame, size: odd[i%len(odd)].size, ctx: c})
			}
		}
	}
	return cases
}

// TestMatrix: every case of the matrix, mlseal to each peer and each peer to
// mlseal, plaintext compared byte for byte, and the suite, frame length and
// encryption context each side reports checked against what was asked.
func TestMatrix(t *testing.T) {
	cases := matrix(keys(t))
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for i, c := range cases {
			pt := plaintext(i, c.size)
			ctx := contexts[c.ctx].ctx

			// mlseal encrypts, the peer decrypts.
			if p.Supports(c.key, true) {
				name := "mlseal-to-" + p.Name() + "/" + c.String()
				stream := i%2 == 1
				ct, err := mlsealSeal(pt, envelope.EncryptOptions{Suite: envelope.SuiteID(c.suite), FrameLength: c.frame, Context: ctx}, stream, c.key)
				if err != nil {
					b.fail(name, fmt.Errorf("mlseal encrypt (stream %v): %w", stream, err))
				} else {
					b.decrypt(&decJob{Name: name, Ciphertext: ct, Keys: []wrapKey{c.key}}, func(t *testing.T, j *decJob) {
						if j.Err != nil {
							t.Fatalf("%v\nmessage mlseal wrote:\n%s", j.Err, describe(ct))
						}
						samePlaintext(t, j.Plaintext, pt)
						if j.Suite != c.suite {
							t.Errorf("peer reports suite 0x%04X, want 0x%04X", j.Suite, c.suite)
						}
						if j.FrameLength != 0 && j.FrameLength != c.frameLength() {
							t.Errorf("peer reports frame length %d, want %d", j.FrameLength, c.frameLength())
						}
						if got := withoutPublicKey(j.PeerContext); !sameContext(got, ctx) {
							t.Errorf("peer reports context %q, want %q", got, ctx)
						}
					})
				}
			}

			// The peer encrypts, mlseal decrypts.
			if p.Supports(c.key, false) {
				name := p.Name() + "-to-mlseal/" + c.String()
				b.encrypt(&encJob{Name: name, Plaintext: pt, Keys: []wrapKey{c.key}, Suite: c.suite, FrameLength: c.frameLength(), Context: ctx}, func(t *testing.T, j *encJob) {
					if j.Err != nil {
						t.Fatal(j.Err)
					}
					// Half the cases give mlseal the expected context, half none.
					opts := envelope.DecryptOptions{}
					if i%2 == 0 {
						opts.Context = ctx
					}
					got, h, err := mlsealOpen(j.Ciphertext, opts, true, c.key)
					if err != nil {
						t.Fatalf("mlseal decrypt: %v\nmessage the peer wrote:\n%s", err, describe(j.Ciphertext))
					}
					samePlaintext(t, got, pt)
					if uint16(h.Suite) != c.suite || h.Version != 2 || !h.Framed || h.FrameLength != c.frameLength() {
						t.Errorf("header: version %d, suite %v, framed %v, frame length %d; want 2, 0x%04X, true, %d", h.Version, h.Suite, h.Framed, h.FrameLength, c.suite, c.frameLength())
					}
					if got := withoutPublicKey(h.Context); !sameContext(got, ctx) {
						t.Errorf("header context %q, want %q", got, ctx)
					}
					if _, signed := h.Context["aws-crypto-public-key"]; signed != (c.suite == suiteCommitSigned) {
						t.Errorf("header context has aws-crypto-public-key: %v, suite 0x%04X", signed, c.suite)
					}
					// DecryptBytes too, on a few.
					if i%5 == 0 {
						got, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: ctx}, false, c.key)
						if err != nil {
							t.Fatalf("mlseal DecryptBytes: %v", err)
						}
						samePlaintext(t, got, pt)
					}
				})
			}
		}
	})
}

// TestPeerDefaults: messages the peers write with their own defaults
// (suite 0x0578, 4096-byte frames) open in mlseal.
func TestPeerDefaults(t *testing.T) {
	k := keys(t)
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for i, size := range []int{0, 1, 4096, 10000} {
			key := []wrapKey{k.aes256, k.rsa2048}[i%2]
			pt := plaintext(i, size)
			ctx := map[string]string{"default": "yes"}
			name := fmt.Sprintf("%s-to-mlseal/%s/size=%d", p.Name(), key, size)
			b.encrypt(&encJob{Name: name, Plaintext: pt, Keys: []wrapKey{key}, Context: ctx}, func(t *testing.T, j *encJob) {
				if j.Err != nil {
					t.Fatal(j.Err)
				}
				got, h, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: ctx}, true, key)
				if err != nil {
					t.Fatalf("mlseal decrypt: %v\n%s", err, describe(j.Ciphertext))
				}
				samePlaintext(t, got, pt)
				if uint16(h.Suite) != suiteCommitSigned || h.FrameLength != 4096 {
					t.Errorf("peer default: suite %v, frame length %d; the SDKs document 0x0578 and 4096", h.Suite, h.FrameLength)
				}
			})
		}
	})
}

package interop_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/mlseal/mlseal/envelope"
)

// wantIntegrityError fails t unless err is one of mlseal's integrity errors.
// A context mismatch shows as ErrAuthentication when a stored pair differs or
// the header authentication fails, and as ErrNoDataKey when a keyring that
// binds its wrapped keys to the context (raw AES) cannot unwrap.
func wantIntegrityError(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: mlseal decrypted it, want an integrity error", what)
	} else if !envelope.IsIntegrityError(err) {
		t.Errorf("%s: %v; want an integrity error", what, err)
	}
}

// TestEncryptionContext: a peer's message opens in mlseal when the caller's
// context agrees with the one stored (none, all or some of its pairs), and
// fails when a value differs or the caller adds a pair the message was not
// made with; and the Go peer holds mlseal's messages to the context the same
// way.
func TestEncryptionContext(t *testing.T) {
	k := keys(t)
	stored := map[string]string{"tenant": "acme", "purpose": "interop", "ünïcode": "✓"}
	accept := []map[string]string{nil, stored, {"tenant": "acme"}, {"ünïcode": "✓"}}
	refuse := []map[string]string{
		{"tenant": "evil"},
		{"tenant": "acme", "purpose": "other"},
		{"tenant": "acme", "extra": "x"},
		{"ünïcode": "✗"},
		{"TENANT": "acme"},
	}
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for _, suite := range suites {
			for _, key := range []wrapKey{k.aes256, k.rsa2048} {
				pt := plaintext(int(suite), 5000)
				desc := fmt.Sprintf("%s/0x%04X", key, suite)
				b.encrypt(&encJob{Name: p.Name() + "-to-mlseal/" + desc, Plaintext: pt, Keys: []wrapKey{key}, Suite: suite, FrameLength: 1024, Context: stored}, func(t *testing.T, j *encJob) {
					if j.Err != nil {
						t.Fatal(j.Err)
					}
					for _, c := range accept {
						got, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: c}, true, key)
						if err != nil {
							t.Errorf("context %q: %v", c, err)
							continue
						}
						samePlaintext(t, got, pt)
					}
					for _, c := range refuse {
						_, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: c}, true, key)
						wantIntegrityError(t, err, fmt.Sprintf("context %q", c))
					}
				})

				ct, err := mlsealSeal(pt, envelope.EncryptOptions{Suite: envelope.SuiteID(suite), FrameLength: 1024, Context: stored}, false, key)
				if err != nil {
					b.fail("mlseal-to-"+p.Name()+"/"+desc, err)
					continue
				}
				if p.Name() == "js" {
					// The JavaScript SDK takes no context on decrypt: its
					// caller checks the one it reports.
					b.decrypt(&decJob{Name: "mlseal-to-js/" + desc, Ciphertext: ct, Keys: []wrapKey{key}}, func(t *testing.T, j *decJob) {
						if j.Err != nil {
							t.Fatalf("%v\n%s", j.Err, describe(ct))
						}
						samePlaintext(t, j.Plaintext, pt)
						if got := withoutPublicKey(j.PeerContext); !maps.Equal(got, stored) {
							t.Errorf("JS reports context %q, want %q", got, stored)
						}
					})
					continue
				}
				for n, c := range accept {
					b.decrypt(&decJob{Name: fmt.Sprintf("mlseal-to-go/%s/accept-%d", desc, n), Ciphertext: ct, Keys: []wrapKey{key}, Context: c}, func(t *testing.T, j *decJob) {
						if j.Err != nil {
							t.Fatalf("context %q: %v", c, j.Err)
						}
						samePlaintext(t, j.Plaintext, pt)
						if got := withoutPublicKey(j.PeerContext); !maps.Equal(got, stored) {
							t.Errorf("Go ESDK reports context %q, want %q", got, stored)
						}
					})
				}
				for n, c := range refuse {
					b.decrypt(&decJob{Name: fmt.Sprintf("mlseal-to-go/%s/refuse-%d", desc, n), Ciphertext: ct, Keys: []wrapKey{key}, Context: c}, func(t *testing.T, j *decJob) {
						if j.Err == nil {
							t.Errorf("context %q: the Go ESDK decrypted mlseal's message, want a failure", c)
						}
					})
				}
			}
		}
	})
}

// TestRequiredContext: the Go peer's required encryption context CMM and
// mlseal's EncryptOptions.RequiredContextKeys leave the required pairs out
// of the header but authenticate them; each side opens the other's message
// only when given them again. The JavaScript SDK has no such CMM and no way
// to supply a context on decrypt, so it must fail to open mlseal's message.
func TestRequiredContext(t *testing.T) {
	k := keys(t)
	full := map[string]string{"k1": "v1", "k2": "v2 ✓", "k3": "v3"}
	required := []string{"k1", "k2"}
	storedOnly := map[string]string{"k3": "v3"}
	reproduced := map[string]string{"k1": "v1", "k2": "v2 ✓"}
	accept := []map[string]string{reproduced, full}
	refuse := []map[string]string{nil, {"k1": "v1"}, {"k1": "v1", "k2": "wrong"}, {"k3": "v3"}, {"k1": "v1", "k2": "v2 ✓", "k4": "x"}}
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for _, suite := range suites {
			for _, key := range []wrapKey{k.aes256, k.rsa2048.withPadding("oaep-sha512")} {
				pt := plaintext(int(suite)+1, 3*4096+1)
				desc := fmt.Sprintf("%s/0x%04X", key, suite)
				ct, err := mlsealSeal(pt, envelope.EncryptOptions{Suite: envelope.SuiteID(suite), FrameLength: 4096, Context: full, RequiredContextKeys: required}, true, key)
				if err != nil {
					b.fail("mlseal-to-"+p.Name()+"/"+desc, err)
					continue
				}
				if h, err := envelope.ParseHeader(bytesReader(ct)); err != nil {
					b.fail("mlseal-header/"+desc, err)
				} else if got := withoutPublicKey(h.Context); !maps.Equal(got, storedOnly) {
					b.fail("mlseal-header/"+desc, fmt.Errorf("mlseal stored context %q, want %q", got, storedOnly))
				}

				if p.Name() == "js" {
					b.decrypt(&decJob{Name: "mlseal-to-js/" + desc + "/without-required", Ciphertext: ct, Keys: []wrapKey{key}}, func(t *testing.T, j *decJob) {
						if j.Err == nil {
							t.Errorf("the JavaScript SDK opened a message whose required context it was not given (it reports %q)", j.PeerContext)
						}
					})
					continue
				}

				// mlseal encrypts with required keys, the Go peer decrypts.
				for n, c := range accept {
					for _, cmm := range [][]string{nil, required} {
						b.decrypt(&decJob{Name: fmt.Sprintf("mlseal-to-go/%s/accept-%d/cmm=%v", desc, n, cmm != nil), Ciphertext: ct, Keys: []wrapKey{key}, Context: c, RequiredKeys: cmm}, func(t *testing.T, j *decJob) {
							if j.Err != nil {
								t.Fatalf("context %q: %v\n%s", c, j.Err, describe(ct))
							}
							samePlaintext(t, j.Plaintext, pt)
							if got := withoutPublicKey(j.PeerContext); !maps.Equal(got, full) {
								t.Errorf("Go ESDK reports context %q, want %q", got, full)
							}
						})
					}
				}
				for n, c := range refuse {
					b.decrypt(&decJob{Name: fmt.Sprintf("mlseal-to-go/%s/refuse-%d", desc, n), Ciphertext: ct, Keys: []wrapKey{key}, Context: c}, func(t *testing.T, j *decJob) {
						if j.Err == nil {
							t.Errorf("context %q: the Go ESDK opened the message", c)
						}
					})
				}

				// The Go peer encrypts with a required encryption context
				// CMM, mlseal decrypts.
				b.encrypt(&encJob{Name: "go-to-mlseal/" + desc, Plaintext: pt, Keys: []wrapKey{key}, Suite: suite, FrameLength: 4096, Context: full, RequiredKeys: required}, func(t *testing.T, j *encJob) {
					if j.Err != nil {
						t.Fatal(j.Err)
					}
					h, err := envelope.ParseHeader(bytesReader(j.Ciphertext))
					if err != nil {
						t.Fatalf("ParseHeader: %v\n%s", err, describe(j.Ciphertext))
					}
					if got := withoutPublicKey(h.Context); !maps.Equal(got, storedOnly) {
						t.Errorf("the Go ESDK stored context %q, want %q", got, storedOnly)
					}
					for _, c := range accept {
						got, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: c}, true, key)
						if err != nil {
							t.Errorf("context %q: %v\n%s", c, err, describe(j.Ciphertext))
							continue
						}
						samePlaintext(t, got, pt)
					}
					for _, c := range refuse {
						_, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: c}, true, key)
						wantIntegrityError(t, err, fmt.Sprintf("context %q", c))
					}
				})
			}
		}
	})
}

// TestPKCS1: data keys that a peer wraps with RSA PKCS#1 v1.5 open in
// mlseal's PKCS1v15 keyring, which only decrypts.
func TestPKCS1(t *testing.T) {
	k := keys(t)
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for _, key := range []wrapKey{k.rsa2048.withPadding("pkcs1"), k.rsa4096.withPadding("pkcs1")} {
			for _, suite := range suites {
				pt := plaintext(7, 4097)
				ctx := map[string]string{"padding": "pkcs1"}
				b.encrypt(&encJob{Name: fmt.Sprintf("%s-to-mlseal/%s/0x%04X", p.Name(), key, suite), Plaintext: pt, Keys: []wrapKey{key}, Suite: suite, FrameLength: 4096, Context: ctx}, func(t *testing.T, j *encJob) {
					if j.Err != nil {
						t.Fatal(j.Err)
					}
					got, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: ctx}, true, key)
					if err != nil {
						t.Fatalf("mlseal decrypt: %v\n%s", err, describe(j.Ciphertext))
					}
					samePlaintext(t, got, pt)
					// The padding is not recorded in the message: an OAEP
					// keyring of the same name and key must not unwrap it.
					oaep := key.withPadding("oaep-sha1")
					oaep.Name = key.Name
					_, _, err = mlsealOpen(j.Ciphertext, envelope.DecryptOptions{}, true, oaep)
					if !errors.Is(err, envelope.ErrNoDataKey) {
						t.Errorf("OAEP keyring on a PKCS#1 v1.5 data key: %v, want ErrNoDataKey", err)
					}
				})
			}
		}
	})
}

// TestMultipleDataKeys: a message whose data key is wrapped by several keys
// opens with any one of them, in both directions.
func TestMultipleDataKeys(t *testing.T) {
	k := keys(t)
	all := []wrapKey{k.aes256, k.rsa2048.withPadding("oaep-sha256"), k.rsa4096.withPadding("oaep-sha1"), k.aes128}
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for _, suite := range suites {
			pt := plaintext(11, 9000)
			ctx := map[string]string{"keys": "several"}
			desc := fmt.Sprintf("0x%04X", suite)
			b.encrypt(&encJob{Name: p.Name() + "-to-mlseal/" + desc, Plaintext: pt, Keys: all, Suite: suite, FrameLength: 2048, Context: ctx}, func(t *testing.T, j *encJob) {
				if j.Err != nil {
					t.Fatal(j.Err)
				}
				for _, key := range all {
					got, h, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{}, true, key)
					if err != nil {
						t.Errorf("with %s only: %v\n%s", key, err, describe(j.Ciphertext))
						continue
					}
					samePlaintext(t, got, pt)
					if len(h.EncryptedDataKeys) != len(all) {
						t.Errorf("%d encrypted data keys, want %d", len(h.EncryptedDataKeys), len(all))
					}
				}
			})
			ct, err := mlsealSeal(pt, envelope.EncryptOptions{Suite: envelope.SuiteID(suite), FrameLength: 2048, Context: ctx}, false, all...)
			if err != nil {
				b.fail("mlseal-to-"+p.Name()+"/"+desc, err)
				continue
			}
			for _, key := range all {
				b.decrypt(&decJob{Name: fmt.Sprintf("mlseal-to-%s/%s/with-%s", p.Name(), desc, key), Ciphertext: ct, Keys: []wrapKey{key}}, func(t *testing.T, j *decJob) {
					if j.Err != nil {
						t.Fatalf("%v\n%s", j.Err, describe(ct))
					}
					samePlaintext(t, j.Plaintext, pt)
				})
			}
		}
	})
}

// TestWrongKey: the wrong key (same namespace and name, other material, or
// the same RSA key with another padding) opens nothing, either way round.
func TestWrongKey(t *testing.T) {
	k := keys(t)
	rsaOther := k.rsa2048Other.withPadding("oaep-sha256")
	rsaPadding := k.rsa2048.withPadding("oaep-sha1")
	rsaPadding.Name = "rsa-oaep-sha256"
	pairs := []struct{ right, wrong wrapKey }{
		{k.aes256, k.aes256Other},
		{k.rsa2048.withPadding("oaep-sha256"), rsaOther},
		{k.rsa2048.withPadding("oaep-sha256"), rsaPadding},
	}
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for n, pair := range pairs {
			pt := plaintext(n, 100)
			desc := fmt.Sprintf("%d/%s-vs-%s", n, pair.right, pair.wrong)
			b.encrypt(&encJob{Name: p.Name() + "-to-mlseal/" + desc, Plaintext: pt, Keys: []wrapKey{pair.right}, Suite: suiteCommit}, func(t *testing.T, j *encJob) {
				if j.Err != nil {
					t.Fatal(j.Err)
				}
				_, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{}, true, pair.wrong)
				if !errors.Is(err, envelope.ErrNoDataKey) {
					t.Errorf("wrong key: %v, want ErrNoDataKey", err)
				}
			})
			ct, err := mlsealSeal(pt, envelope.EncryptOptions{}, false, pair.right)
			if err != nil {
				b.fail("mlseal-to-"+p.Name()+"/"+desc, err)
				continue
			}
			b.decrypt(&decJob{Name: "mlseal-to-" + p.Name() + "/" + desc, Ciphertext: ct, Keys: []wrapKey{pair.wrong}}, func(t *testing.T, j *decJob) {
				if j.Err == nil {
					t.Errorf("the peer opened mlseal's message with the wrong key")
				}
			})
		}
	})
}

// TestCommitmentPolicy: messages of the legacy, non-committing suites that
// a peer writes under FORBID_ENCRYPT_ALLOW_DECRYPT are refused by mlseal's
// default policy with ErrPolicy and open under RequireEncryptAllowDecrypt.
func TestCommitmentPolicy(t *testing.T) {
	k := keys(t)
	legacy := []uint16{0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378}
	forEachPeer(t, func(t *testing.T, p peer, b *batch) {
		for i, suite := range legacy {
			key := []wrapKey{k.aes256, k.rsa2048}[i%2]
			pt := plaintext(i, 2*1000+3)
			ctx := map[string]string{"legacy": fmt.Sprintf("0x%04X", suite)}
			b.encrypt(&encJob{Name: fmt.Sprintf("%s-to-mlseal/%s/0x%04X", p.Name(), key, suite), Plaintext: pt, Keys: []wrapKey{key}, Suite: suite, FrameLength: 1000, Context: ctx, Policy: forbidAllow}, func(t *testing.T, j *encJob) {
				if j.Err != nil {
					t.Fatal(j.Err)
				}
				_, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{}, true, key)
				if !errors.Is(err, envelope.ErrPolicy) {
					t.Errorf("default policy: %v, want ErrPolicy", err)
				}
				got, h, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{Context: ctx, CommitmentPolicy: envelope.RequireEncryptAllowDecrypt}, true, key)
				if err != nil {
					t.Fatalf("legacy policy: %v\n%s", err, describe(j.Ciphertext))
				}
				samePlaintext(t, got, pt)
				if uint16(h.Suite) != suite || h.Version != 1 {
					t.Errorf("header: suite %v version %d, want 0x%04X version 1", h.Suite, h.Version, suite)
				}
			})
		}
	})
}

// TestJSContextSorting: the JavaScript SDK's raw AES keyring authenticates
// the encryption context in the order String.prototype.localeCompare gives
// unless utf8Sorting is set (aws-encryption-sdk-javascript issue 428); the
// specification (framework/raw-aes-keyring.md, structures.md) sorts by the
// keys' UTF-8 bytes, and so does mlseal. The other tests set utf8Sorting.
// Here, with the SDK's default, a context whose two orders differ must not
// open in mlseal: its data key was wrapped under other associated data.
func TestJSContextSorting(t *testing.T) {
	k := keys(t)
	p := needJSPeer(t)
	b := new(batch)
	orders := []struct {
		name   string
		ctx    map[string]string
		differ bool // localeCompare order differs from UTF-8 byte order
	}{
		{"same-order", map[string]string{"a": "1", "b": "2", "c": "3"}, false},
		{"case", map[string]string{"a": "1", "B": "2"}, true},
		{"astral", map[string]string{"\U0001F600": "1", "\uFF21": "2"}, true},
	}
	for _, o := range orders {
		pt := plaintext(3, 1000)
		b.encrypt(&encJob{Name: "js-default-sort-to-mlseal/" + o.name, Plaintext: pt, Keys: []wrapKey{k.aes256}, Suite: suiteCommit, Context: o.ctx, LocaleSort: true}, func(t *testing.T, j *encJob) {
			if j.Err != nil {
				t.Fatal(j.Err)
			}
			got, _, err := mlsealOpen(j.Ciphertext, envelope.DecryptOptions{}, true, k.aes256)
			if !o.differ {
				if err != nil {
					t.Fatalf("orders agree, yet: %v", err)
				}
				samePlaintext(t, got, pt)
				return
			}
			if !errors.Is(err, envelope.ErrNoDataKey) {
				t.Errorf("mlseal on a data key wrapped with JS's locale order: %v, want ErrNoDataKey", err)
			}
		})
		ct, err := mlsealSeal(pt, envelope.EncryptOptions{Context: o.ctx}, false, k.aes256)
		if err != nil {
			b.fail("mlseal-to-js-default-sort/"+o.name, err)
			continue
		}
		b.decrypt(&decJob{Name: "mlseal-to-js-default-sort/" + o.name, Ciphertext: ct, Keys: []wrapKey{k.aes256}, LocaleSort: true}, func(t *testing.T, j *decJob) {
			if (j.Err == nil) == o.differ {
				t.Errorf("JS with its default sorting: error %v; orders differ: %v", j.Err, o.differ)
			}
		})
	}
	b.run(t, p)
}

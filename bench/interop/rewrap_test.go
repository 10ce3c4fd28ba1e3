package interop_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
)

// rewrapTo rewraps ct from the old key to the new keys with mlseal.
func rewrapTo(ct []byte, ctx map[string]string, old wrapKey, news ...wrapKey) ([]byte, error) {
	oldKR, err := mlsealKeyring(true, old)
	if err != nil {
		return nil, err
	}
	var rings []envelope.Keyring
	for _, k := range news {
		r, err := mlsealKeyring(false, k)
		if err != nil {
			return nil, err
		}
		rings = append(rings, r)
	}
	newKR, err := multi.New(nil, rings...)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = envelope.Rewrap(context.Background(), &out, bytes.NewReader(ct), envelope.RewrapOptions{
		Decrypt: envelope.DecryptOptions{Keyring: oldKR, Context: ctx},
		Keyring: newKR,
	})
	return out.Bytes(), err
}

// TestRewrap: a message that mlseal rewrapped (new wrapped keys, new header
// tag, the body unchanged) opens in the peers with each new key and not
// with the old one; a body tampered with before the rewrap still fails;
// and messages the peers wrote rewrap too.
func TestRewrap(t *testing.T) {
	k := keys(t)
	old := k.aes256
	news := []wrapKey{k.aes128, k.rsa2048.withPadding("oaep-sha256")}
	ec := map[string]string{"dataset": "train", "purpose": "rewrap ✓"}
	for _, name := range []string{"go", "js"} {
		t.Run(name, func(t *testing.T) {
			var p peer
			if name == "go" {
				gp, err := newGoPeer()
				if err != nil {
					t.Fatalf("AWS Encryption SDK for Go: %v", err)
				}
				p = gp
			} else {
				p = needJSPeer(t)
			}
			b := new(batch)
			for _, n := range []int{0, 4095, 3*4096 + 17} {
				pt := plaintext(n, n)
				desc := fmt.Sprintf("mlseal-%d", n)
				ct, err := mlsealSeal(pt, envelope.EncryptOptions{FrameLength: 4096, Context: ec}, true, old)
				if err != nil {
					b.fail(desc, err)
					continue
				}
				rewrapCases(b, p, desc, ct, pt, ec, old, news)
			}

			if p.Name() == "go" {
				requiredCase(b, old, news, ec)
			}

			// Messages the peer wrote, unsigned with key commitment.
			pt := plaintext(7, 5*4096+3)
			enc := &encJob{Name: "peer", Plaintext: pt, Keys: []wrapKey{old}, Suite: uint16(envelope.AES256GCMHKDFSHA512CommitKey), FrameLength: 4096, Context: ec}
			p.Run(t, []*encJob{enc}, nil)
			if enc.Err != nil {
				t.Fatalf("%s encrypts: %v", p.Name(), enc.Err)
			}
			rewrapCases(b, p, p.Name()+"-written", enc.Ciphertext, pt, ec, old, news)
			b.run(t, p)
		})
	}
}

// rewrapCases adds the decrypt jobs that check a rewrap of ct to a batch.
func rewrapCases(b *batch, p peer, desc string, ct, pt []byte, ec map[string]string, old wrapKey, news []wrapKey) {
	re, err := rewrapTo(ct, ec, old, news...)
	if err != nil {
		b.fail(desc+"/rewrap", err)
		return
	}
	// The JavaScript SDK takes no context on decrypt; it reports the
	// stored one, which is checked.
	callerEC := ec
	if p.Name() == "js" {
		callerEC = nil
	}
	for _, k := range news {
		if !p.Supports(k, true) {
			continue
		}
		b.decrypt(&decJob{Name: desc + "/new-" + k.String(), Ciphertext: re, Keys: []wrapKey{k}, Context: callerEC}, func(t *testing.T, j *decJob) {
			if j.Err != nil {
				t.Fatalf("%s cannot decrypt the rewrapped message with a new key: %v\n%s", p.Name(), j.Err, describe(re))
			}
			samePlaintext(t, j.Plaintext, pt)
			if got := withoutPublicKey(j.PeerContext); !sameContext(got, ec) {
				t.Errorf("%s reports context %q, want %q", p.Name(), got, ec)
			}
		})
	}
	b.decrypt(&decJob{Name: desc + "/old-key", Ciphertext: re, Keys: []wrapKey{old}, Context: callerEC}, func(t *testing.T, j *decJob) {
		if j.Err == nil {
			t.Errorf("%s decrypted the rewrapped message with the old key alone", p.Name())
		}
	})
	if len(pt) == 0 {
		return
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-20] ^= 0x04 // inside the final frame's tag or ciphertext
	badRe, err := rewrapTo(bad, ec, old, news...)
	if err != nil {
		b.fail(desc+"/tampered-rewrap", err)
		return
	}
	b.decrypt(&decJob{Name: desc + "/tampered", Ciphertext: badRe, Keys: news[:1], Context: callerEC}, func(t *testing.T, j *decJob) {
		if j.Err == nil {
			t.Errorf("%s decrypted a rewrapped message whose body was tampered with", p.Name())
		}
	})
}

// requiredCase: a message with a required context key (authenticated, not
// stored) keeps it required through a rewrap; the Go SDK, which takes a
// context on decrypt, opens it only when given the key's value.
func requiredCase(b *batch, old wrapKey, news []wrapKey, ec map[string]string) {
	pt := plaintext(3, 9000)
	ct, err := mlsealSeal(pt, envelope.EncryptOptions{FrameLength: 4096, Context: ec, RequiredContextKeys: []string{"purpose"}}, true, old)
	if err != nil {
		b.fail("required", err)
		return
	}
	re, err := rewrapTo(ct, ec, old, news...)
	if err != nil {
		b.fail("required/rewrap", err)
		return
	}
	for _, cmm := range [][]string{nil, {"purpose"}} {
		b.decrypt(&decJob{Name: fmt.Sprintf("required/accept/cmm=%v", cmm != nil), Ciphertext: re, Keys: news[:1], Context: ec, RequiredKeys: cmm}, func(t *testing.T, j *decJob) {
			if j.Err != nil {
				t.Fatalf("the Go SDK cannot decrypt a rewrapped message with its required context: %v\n%s", j.Err, describe(re))
			}
			samePlaintext(t, j.Plaintext, pt)
		})
	}
	b.decrypt(&decJob{Name: "required/without", Ciphertext: re, Keys: news[:1], Context: map[string]string{"dataset": "train"}}, func(t *testing.T, j *decJob) {
		if j.Err == nil {
			t.Error("the Go SDK opened a rewrapped message without its required context")
		}
	})
}

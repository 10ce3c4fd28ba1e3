package multi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

var ctx = context.Background()

var ec = map[string]string{"dataset": "train"}

// counting wraps a keyring and counts the calls made to it. With a nil
// inner keyring it fails every call with err.
type counting struct {
	inner      envelope.Keyring
	err        error
	encrypts   atomic.Int32
	decrypts   atomic.Int32
	sawDataKey atomic.Bool // OnDecrypt was called with a data key already set
}

func (c *counting) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	c.encrypts.Add(1)
	if c.inner == nil {
		return c.err
	}
	return c.inner.OnEncrypt(ctx, m)
}

func (c *counting) OnDecrypt(ctx context.Context, m *envelope.DecryptionMaterials, edks []envelope.EncryptedDataKey) error {
	c.decrypts.Add(1)
	if m.DataKey != nil {
		c.sawDataKey.Store(true)
	}
	if c.inner == nil {
		return c.err
	}
	return c.inner.OnDecrypt(ctx, m, edks)
}

// noop neither fails nor does anything.
type noop struct{}

func (noop) OnEncrypt(context.Context, *envelope.EncryptionMaterials) error { return nil }
func (noop) OnDecrypt(context.Context, *envelope.DecryptionMaterials, []envelope.EncryptedDataKey) error {
	return nil
}

func aesKeyring(t *testing.T, name string, key []byte) *rawaes.Keyring {
	t.Helper()
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key)
	}
	kr, err := rawaes.New("mlseal-test", name, key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func mustMulti(t *testing.T, gen envelope.Keyring, children ...envelope.Keyring) *multi.Keyring {
	t.Helper()
	m, err := multi.New(gen, children...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// keys are three raw AES wrapping keys and keyrings for them.
type keys struct {
	material [3][]byte
	rings    [3]*rawaes.Keyring
}

var names = [3]string{"a", "b", "c"}

func newKeys(t *testing.T) *keys {
	k := &keys{}
	for i := range k.material {
		k.material[i] = make([]byte, 32)
		rand.Read(k.material[i])
		k.rings[i] = aesKeyring(t, names[i], k.material[i])
	}
	return k
}

// fresh returns a keyring for key i made anew from its material, as a
// reader holding only that key would.
func (k *keys) fresh(t *testing.T, i int) *rawaes.Keyring {
	return aesKeyring(t, names[i], bytes.Clone(k.material[i]))
}

func encryptMaterials(t *testing.T, kr envelope.Keyring) *envelope.EncryptionMaterials {
	t.Helper()
	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := kr.OnEncrypt(ctx, m); err != nil {
		t.Fatalf("OnEncrypt: %v", err)
	}
	return m
}

func TestEncryptAllWrap(t *testing.T) {
	k := newKeys(t)
	m := encryptMaterials(t, mustMulti(t, k.rings[0], k.rings[1], k.rings[2]))
	if len(m.DataKey) != envelope.DefaultSuite.DataKeyLen() {
		t.Fatalf("data key of %d bytes", len(m.DataKey))
	}
	if len(m.EncryptedDataKeys) != 3 {
		t.Fatalf("%d encrypted data keys, want one for the generator and one per child: 3", len(m.EncryptedDataKeys))
	}
	for i, edk := range m.EncryptedDataKeys {
		if !bytes.HasPrefix(edk.ProviderInfo, []byte(names[i])) {
			t.Errorf("encrypted data key %d is for %q, want %q (generator first, then children in order)", i, edk.ProviderInfo, names[i])
		}
	}
	// Any one key alone opens the data key.
	for i := range 3 {
		dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
		if err := k.fresh(t, i).OnDecrypt(ctx, dm, m.EncryptedDataKeys); err != nil {
			t.Fatalf("key %s alone: %v", names[i], err)
		}
		if !bytes.Equal(dm.DataKey, m.DataKey) {
			t.Fatalf("key %s alone unwrapped a different data key", names[i])
		}
	}
}

// TestThroughEnvelope: a message written with a multi-keyring opens with
// each of its keys alone, and with a multi-keyring holding only one of them.
func TestThroughEnvelope(t *testing.T) {
	k := newKeys(t)
	pt := []byte("weights of layer 7")
	for _, suite := range []envelope.SuiteID{envelope.AES256GCMHKDFSHA512CommitKey, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384} {
		ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: mustMulti(t, k.rings[0], k.rings[1], k.rings[2]), Suite: suite, Context: ec})
		if err != nil {
			t.Fatal(err)
		}
		h, err := envelope.ParseHeader(bytes.NewReader(ct))
		if err != nil {
			t.Fatal(err)
		}
		if len(h.EncryptedDataKeys) != 3 {
			t.Fatalf("%v: header has %d encrypted data keys, want 3", suite, len(h.EncryptedDataKeys))
		}
		for i := range 3 {
			for _, kr := range []envelope.Keyring{k.fresh(t, i), mustMulti(t, nil, aesKeyring(t, "unrelated", nil), k.fresh(t, i))} {
				got, err := envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: kr, Context: ec})
				if err != nil {
					t.Fatalf("%v, key %s: %v", suite, names[i], err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("%v, key %s: plaintext differs", suite, names[i])
				}
			}
		}
	}
}

// TestDecryptFirstSuccessWins: keyrings are tried generator first, then in
// order; the first that unwraps ends the search and later ones are not called.
func TestDecryptFirstSuccessWins(t *testing.T) {
	k := newKeys(t)
	m := encryptMaterials(t, mustMulti(t, k.rings[0], k.rings[1], k.rings[2]))

	wrong := &counting{inner: aesKeyring(t, "a", nil)} // right name, wrong material
	failing := &counting{err: errors.New("kms unreachable")}
	right := &counting{inner: k.fresh(t, 1)}
	later := &counting{inner: k.fresh(t, 2)}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := mustMulti(t, wrong, failing, right, later).OnDecrypt(ctx, dm, m.EncryptedDataKeys); err != nil {
		t.Fatalf("OnDecrypt: %v", err)
	}
	if !bytes.Equal(dm.DataKey, m.DataKey) {
		t.Fatal("wrong data key")
	}
	for _, c := range []struct {
		name string
		kr   *counting
		want int32
	}{{"generator", wrong, 1}, {"failing child", failing, 1}, {"unwrapping child", right, 1}, {"child after it", later, 0}} {
		if got := c.kr.decrypts.Load(); got != c.want {
			t.Errorf("%s: OnDecrypt called %d times, want %d", c.name, got, c.want)
		}
		if c.kr.sawDataKey.Load() {
			t.Errorf("%s was called with the data key already set", c.name)
		}
	}

	// The generator, when it can, wins and no child is called.
	gen := &counting{inner: k.fresh(t, 0)}
	child := &counting{inner: k.fresh(t, 1)}
	dm = &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := mustMulti(t, gen, child).OnDecrypt(ctx, dm, m.EncryptedDataKeys); err != nil {
		t.Fatal(err)
	}
	if gen.decrypts.Load() != 1 || child.decrypts.Load() != 0 {
		t.Errorf("generator called %d times, child %d: want 1 and 0", gen.decrypts.Load(), child.decrypts.Load())
	}
}

// TestDecryptAllFail: when no keyring unwraps, the error wraps ErrNoDataKey
// and reports why each one failed.
func TestDecryptAllFail(t *testing.T) {
	k := newKeys(t)
	m := encryptMaterials(t, mustMulti(t, k.rings[0], k.rings[1]))
	custom := fmt.Errorf("kms: access denied for key-9: %w", envelope.ErrNoDataKey)
	kr := mustMulti(t, aesKeyring(t, "a", nil), aesKeyring(t, "zz-not-in-message", nil), &counting{err: custom}, noop{})
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	err := kr.OnDecrypt(ctx, dm, m.EncryptedDataKeys)
	if !errors.Is(err, envelope.ErrNoDataKey) {
		t.Fatalf("all failing: %v, want ErrNoDataKey", err)
	}
	if !errors.Is(err, custom) {
		t.Errorf("error %v does not wrap the failing child's error", err)
	}
	for _, want := range []string{"mlseal-test/a", "mlseal-test/zz-not-in-message", "key-9"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if dm.DataKey != nil {
		t.Error("data key set on failure")
	}

	// Keyrings that neither fail nor unwrap still give ErrNoDataKey.
	dm = &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := mustMulti(t, noop{}, noop{}).OnDecrypt(ctx, dm, m.EncryptedDataKeys); !errors.Is(err, envelope.ErrNoDataKey) {
		t.Errorf("keyrings that do nothing: %v, want ErrNoDataKey", err)
	}

	// Through Decrypt, the wrong keys give an integrity error.
	ct, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: k.rings[0]})
	if err != nil {
		t.Fatal(err)
	}
	_, err = envelope.DecryptBytes(ctx, ct, envelope.DecryptOptions{Keyring: mustMulti(t, k.fresh(t, 1), k.fresh(t, 2))})
	if !errors.Is(err, envelope.ErrNoDataKey) || !envelope.IsIntegrityError(err) {
		t.Errorf("Decrypt with the wrong keys: %v", err)
	}
}

func TestDecryptDataKeyAlreadySet(t *testing.T) {
	c := &counting{inner: aesKeyring(t, "a", nil)}
	preset := bytes.Repeat([]byte{3}, 32)
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, DataKey: bytes.Clone(preset)}
	if err := mustMulti(t, c).OnDecrypt(ctx, dm, nil); err != nil {
		t.Fatal(err)
	}
	if c.decrypts.Load() != 0 || !bytes.Equal(dm.DataKey, preset) {
		t.Errorf("with a data key set: %d calls, key changed %v", c.decrypts.Load(), !bytes.Equal(dm.DataKey, preset))
	}
}

// TestNoGenerator: without a generator the data key must come from
// elsewhere; the children only wrap it.
func TestNoGenerator(t *testing.T) {
	k := newKeys(t)
	kr := mustMulti(t, nil, k.rings[0], k.rings[1])
	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := kr.OnEncrypt(ctx, m); err == nil {
		t.Fatal("OnEncrypt without a generator or a data key succeeded")
	}
	if m.DataKey != nil || len(m.EncryptedDataKeys) != 0 {
		t.Fatal("materials changed by a failed OnEncrypt")
	}
	if _, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: kr}); err == nil {
		t.Fatal("Encrypt with a multi-keyring that cannot generate a key succeeded")
	}

	dataKey := bytes.Repeat([]byte{0x42}, 32)
	m = &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: ec, DataKey: bytes.Clone(dataKey)}
	if err := kr.OnEncrypt(ctx, m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.DataKey, dataKey) || len(m.EncryptedDataKeys) != 2 {
		t.Fatalf("with a data key given: key kept %v, %d wrapped keys (want 2)", bytes.Equal(m.DataKey, dataKey), len(m.EncryptedDataKeys))
	}
	dm := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := k.fresh(t, 1).OnDecrypt(ctx, dm, m.EncryptedDataKeys); err != nil || !bytes.Equal(dm.DataKey, dataKey) {
		t.Fatalf("child's wrapping does not open to the given key: %v", err)
	}
}

// TestEncryptFailure: any keyring failing on encrypt fails the operation,
// so no message is written that a listed key cannot open.
func TestEncryptFailure(t *testing.T) {
	boom := errors.New("wrapping key disabled")
	k := newKeys(t)

	after := &counting{inner: k.rings[2]}
	kr := mustMulti(t, k.rings[0], &counting{err: boom}, after)
	m := &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite, Context: ec}
	if err := kr.OnEncrypt(ctx, m); !errors.Is(err, boom) {
		t.Fatalf("failing child: %v, want its error", err)
	}
	if after.encrypts.Load() != 0 {
		t.Error("a child after the failing one was still called")
	}
	if _, err := envelope.EncryptBytes(ctx, []byte("x"), envelope.EncryptOptions{Keyring: kr}); !errors.Is(err, boom) {
		t.Fatalf("Encrypt with a failing child: %v, want its error", err)
	}

	child := &counting{inner: k.rings[1]}
	kr = mustMulti(t, &counting{err: boom}, child)
	if err := kr.OnEncrypt(ctx, &envelope.EncryptionMaterials{Suite: envelope.DefaultSuite}); !errors.Is(err, boom) {
		t.Fatalf("failing generator: %v, want its error", err)
	}
	if child.encrypts.Load() != 0 {
		t.Error("a child was called after the generator failed")
	}
}

func TestNewRefuses(t *testing.T) {
	kr := aesKeyring(t, "a", nil)
	if _, err := multi.New(nil); err == nil {
		t.Error("New with no keyrings succeeded")
	}
	if _, err := multi.New(kr, nil); err == nil {
		t.Error("New with a nil child succeeded")
	}
	if _, err := multi.New(nil, kr, nil); err == nil {
		t.Error("New with a nil child succeeded")
	}
	if _, err := multi.New(kr); err != nil {
		t.Errorf("generator alone: %v", err)
	}
	if _, err := multi.New(nil, kr); err != nil {
		t.Errorf("one child alone: %v", err)
	}
}

// outageKeyring fails as a key service that cannot be reached does.
type outageKeyring struct{}

func (outageKeyring) OnEncrypt(context.Context, *envelope.EncryptionMaterials) error {
	return context.DeadlineExceeded
}

func (outageKeyring) OnDecrypt(context.Context, *envelope.DecryptionMaterials, []envelope.EncryptedDataKey) error {
	return fmt.Errorf("key service: %w", context.DeadlineExceeded)
}

func TestOutageIsNotNoDataKey(t *testing.T) {
	local, err := rawaes.New("ns", "other", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := multi.New(outageKeyring{}, local)
	if err != nil {
		t.Fatal(err)
	}
	m := &envelope.DecryptionMaterials{Suite: envelope.DefaultSuite, Context: map[string]string{}}
	err = kr.OnDecrypt(context.Background(), m, []envelope.EncryptedDataKey{{ProviderID: "ns", ProviderInfo: []byte("k"), Ciphertext: []byte("x")}})
	if err == nil || errors.Is(err, envelope.ErrNoDataKey) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("outage and a key that does not match: %v, want the outage without ErrNoDataKey", err)
	}
}

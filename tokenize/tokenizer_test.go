package tokenize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKeysetWriteRead(t *testing.T) {
	kr := testKeyring(t)
	ks, err := NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ks.Write(context.Background(), &buf, kr); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	if !bytes.Contains(file, []byte(`"format": "mlseal-token-keyset"`)) {
		t.Errorf("keyset file lacks its format: %s", file)
	}
	back, err := ReadKeyset(context.Background(), bytes.NewReader(file), kr)
	if err != nil {
		t.Fatal(err)
	}
	p := customersPolicy(t)
	t1, _ := New(ks, p)
	t2, _ := New(back, p)
	for _, f := range []string{"name", "ssn", "phone"} {
		v := map[string]string{"name": "Ada Lovelace", "ssn": "123-45-6789", "phone": "+44 20 7946 0958"}[f]
		a, err1 := t1.TokenizeValue(f, v, "")
		b, err2 := t2.TokenizeValue(f, v, "")
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s: %q (%v) from the keyset, %q (%v) after Write and ReadKeyset", f, a, err1, b, err2)
		}
	}

	// Another keyring cannot open it.
	if _, err := ReadKeyset(context.Background(), bytes.NewReader(file), testKeyring(t)); !errors.Is(err, ErrKeyset) {
		t.Errorf("wrong keyring: %v, want ErrKeyset", err)
	}
	// The two keysets cannot be swapped.
	swapped := bytes.Replace(file, []byte(`"deterministic"`), []byte(`"tmp"`), 1)
	swapped = bytes.Replace(swapped, []byte(`"prf"`), []byte(`"deterministic"`), 1)
	swapped = bytes.Replace(swapped, []byte(`"tmp"`), []byte(`"prf"`), 1)
	if _, err := ReadKeyset(context.Background(), bytes.NewReader(swapped), kr); !errors.Is(err, ErrKeyset) {
		t.Errorf("swapped keysets: %v, want ErrKeyset", err)
	}
	// Flipping a bit anywhere in the deterministic keyset is detected.
	bad := bytes.Replace(file, []byte(`"deterministic": "`), []byte(`"deterministic": "A`), 1)
	if _, err := ReadKeyset(context.Background(), bytes.NewReader(bad), kr); err == nil {
		t.Error("tampered keyset accepted")
	}
	if _, err := ReadKeyset(context.Background(), strings.NewReader(`{"format":"other","version":1}`), kr); !errors.Is(err, ErrKeyset) {
		t.Errorf("other format: %v", err)
	}
}

func TestNoPlaintextKeys(t *testing.T) {
	// The file holds no tink key material in the clear: no serialized
	// AES-SIV or HMAC key value appears in it. The key ids and type URLs do
	// (tink's KeysetInfo), by design.
	kr := testKeyring(t)
	ks, _ := NewKeyset()
	var buf bytes.Buffer
	if err := ks.Write(context.Background(), &buf, kr); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("AesSivKey")) && !bytes.Contains(buf.Bytes(), []byte("deterministic")) {
		t.Error("unexpected layout")
	}
	// The derived keys do not appear either, in any encoding we write.
	k1, _ := ks.deriveKey(ks.PrimaryPRFKeyID(), "ff1", "ssn")
	if bytes.Contains(buf.Bytes(), k1) {
		t.Error("derived key in the file")
	}
}

func TestDeterministic(t *testing.T) {
	ks := testKeyset(t)
	tk, err := New(ks, customersPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tk.TokenizeValue("email", "ada@example.com", "")
	b, _ := tk.TokenizeValue("email", "ada@example.com", "")
	c, _ := tk.TokenizeValue("name", "ada@example.com", "")
	if a != b {
		t.Errorf("same value, two tokens: %s %s", a, b)
	}
	if a == c {
		t.Error("two domains gave the same token")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(a) {
		t.Errorf("token %q is not base64url", a)
	}
	// 5-byte prefix + 16-byte SIV + 15 bytes = 36 bytes = 48 characters.
	if len(a) != 48 {
		t.Errorf("token of %d characters, want 48", len(a))
	}
	back, err := tk.DetokenizeValue("email", a)
	if err != nil || back != "ada@example.com" {
		t.Errorf("detokenize: %q, %v", back, err)
	}
	if _, err := tk.DetokenizeValue("name", a); !errors.Is(err, ErrToken) {
		t.Errorf("token of another domain: %v, want ErrToken", err)
	}
	if _, err := tk.DetokenizeValue("email", "not-a-token"); !errors.Is(err, ErrToken) {
		t.Errorf("garbage: %v, want ErrToken", err)
	}
	// Another keyset makes other tokens and cannot read these.
	other, _ := NewKeyset()
	tk2, _ := New(other, customersPolicy(t))
	x, _ := tk2.TokenizeValue("email", "ada@example.com", "")
	if x == a {
		t.Error("two keysets gave the same token")
	}
	if _, err := tk2.DetokenizeValue("email", a); !errors.Is(err, ErrToken) {
		t.Errorf("other keyset: %v, want ErrToken", err)
	}
}

func TestRotation(t *testing.T) {
	ks, _ := NewKeyset()
	p := customersPolicy(t)
	old, _ := New(ks, p)
	tokOld, _ := old.TokenizeValue("email", "ada@example.com", "")

	rot, err := ks.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	info := rot.Info()
	if len(info.Deterministic) != 2 || len(info.PRF) != 2 {
		t.Fatalf("after Rotate: %+v", info)
	}
	tr, _ := New(rot, p)
	tokNew, _ := tr.TokenizeValue("email", "ada@example.com", "")
	if tokNew == tokOld {
		t.Error("the new primary key made the old token")
	}
	for _, tok := range []string{tokOld, tokNew} {
		if v, err := tr.DetokenizeValue("email", tok); err != nil || v != "ada@example.com" {
			t.Errorf("detokenize %s after rotation: %q %v", tok, v, err)
		}
	}
	// FF1 tokens carry no key id: with two PRF keys and none pinned,
	// tokenizing is refused (the tokens could not be detokenized with this
	// policy), and so is detokenizing.
	if tok, err := tr.TokenizeValue("ssn", "123-45-6789", ""); !errors.Is(err, ErrKeyVersion) || !strings.Contains(err.Error(), "prf_key_id") {
		t.Errorf("unpinned fpe after rotation: tokenized %q, %v; want ErrKeyVersion", tok, err)
	}
	var out bytes.Buffer
	if _, err := tr.Tokenize(&out, strings.NewReader(`{"ssn":"123-45-6789"}`+"\n"), Options{Format: FormatJSONL, Rejects: io.Discard}); !errors.Is(err, ErrKeyVersion) || out.Len() > 0 {
		t.Errorf("unpinned fpe after rotation: Tokenize wrote %q, %v; want ErrKeyVersion", out.String(), err)
	}
	if _, err := tr.TokenizeParquet(&out, strings.NewReader(""), 0, Options{}); !errors.Is(err, ErrKeyVersion) {
		t.Errorf("unpinned fpe after rotation: TokenizeParquet %v; want ErrKeyVersion", err)
	}
	ssn, _ := old.TokenizeValue("ssn", "123-45-6789", "")
	if _, err := tr.DetokenizeValue("ssn", ssn); !errors.Is(err, ErrKeyVersion) {
		t.Errorf("unpinned fpe after rotation: %v, want ErrKeyVersion", err)
	}
	// Pinned to the new primary, it tokenizes and detokenizes.
	pinNew := customersPolicy(t)
	pinNew.PRFKeyID = rot.PrimaryPRFKeyID()
	tn, err := New(rot, pinNew)
	if err != nil {
		t.Fatal(err)
	}
	newSSN, err := tn.TokenizeValue("ssn", "123-45-6789", "")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tn.DetokenizeValue("ssn", newSSN); err != nil || v != "123-45-6789" {
		t.Errorf("pinned new key: %q %v", v, err)
	}
	// Pinning the old key reads the old tokens.
	oldSSN, _ := old.TokenizeValue("ssn", "123-45-6789", "")
	pinned := customersPolicy(t)
	pinned.PRFKeyID = ks.PrimaryPRFKeyID()
	tp, err := New(rot, pinned)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tp.DetokenizeValue("ssn", oldSSN); err != nil || v != "123-45-6789" {
		t.Errorf("pinned old key: %q %v", v, err)
	}
	// Pinning a key the keyset lacks is refused up front.
	pinned.PRFKeyID = 12345
	if _, err := New(rot, pinned); !errors.Is(err, ErrPolicy) {
		t.Errorf("unknown PRF key: %v, want ErrPolicy", err)
	}
}

func TestFPE(t *testing.T) {
	tk, _ := New(testKeyset(t), customersPolicy(t))
	ssnRE := regexp.MustCompile(`^\d{3}-\d{2}-\d{4}$`)
	seen := map[string]bool{}
	for _, v := range []string{"123-45-6789", "987-65-4321", "123-45-6780"} {
		tok, err := tk.TokenizeValue("ssn", v, "")
		if err != nil {
			t.Fatal(err)
		}
		if !ssnRE.MatchString(tok) || tok == v || seen[tok] {
			t.Errorf("ssn %s -> %s", v, tok)
		}
		seen[tok] = true
		back, err := tk.DetokenizeValue("ssn", tok)
		if err != nil || back != v {
			t.Errorf("detokenize %s: %q %v", tok, back, err)
		}
	}
	card, err := tk.TokenizeValue("card_number", "4111 1111 1111 1234", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(card, " 1234") || len(card) != 19 || card[4] != ' ' {
		t.Errorf("card -> %q: want the layout and the last four kept", card)
	}
	if back, _ := tk.DetokenizeValue("card_number", card); back != "4111 1111 1111 1234" {
		t.Errorf("card back: %q", back)
	}
	// Invalid values are errors naming the problem, never passed through.
	for v, want := range map[string]string{
		"123-45-678x": "neither in alphabet",
		"123/45/6789": "neither in alphabet",
		"12-345":      "FF1 needs at least 6",
	} {
		_, err := tk.TokenizeValue("ssn", v, "")
		if !errors.Is(err, ErrValue) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"ssn"`) {
			t.Errorf("%q: %v, want ErrValue saying %q", v, err, want)
		}
	}
	// Unless the policy says pass.
	p := customersPolicy(t)
	p.Fields[3].OnInvalid = "pass"
	tp, _ := New(testKeyset(t), p)
	if v, err := tp.TokenizeValue("ssn", "n/a", ""); err != nil || v != "n/a" {
		t.Errorf("on_invalid pass: %q %v", v, err)
	}
}

func TestHashMaskRedact(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"version":1,"fields":[
		{"name":"h","op":"hash"},
		{"name":"h2","op":"hash","domain":"h","length":10},
		{"name":"m","op":"mask"},
		{"name":"m2","op":"mask","keep_last":2,"mask_char":"#","separators":"@."},
		{"name":"r","op":"redact","replace":"[REDACTED]"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := New(testKeyset(t), p)
	h, _ := tk.TokenizeValue("h", "ada", "")
	h2, _ := tk.TokenizeValue("h2", "ada", "")
	if len(h) != DefaultHashLength || len(h2) != 10 || !strings.HasPrefix(h, h2) {
		t.Errorf("hash %q, %q: want the same domain's pseudonym truncated", h, h2)
	}
	if back, _ := tk.DetokenizeValue("h", h); back != h {
		t.Error("hash is one-way: detokenize must return it unchanged")
	}
	for _, c := range []struct{ f, in, want string }{
		{"m", "4111 1111 1111 1234", "**** **** **** 1234"},
		{"m2", "ada@example.com", "###@#######.#om"},
		{"r", "secret", "[REDACTED]"},
		{"m", "", ""},
	} {
		if got, _ := tk.TokenizeValue(c.f, c.in, ""); got != c.want {
			t.Errorf("%s(%q) = %q, want %q", c.f, c.in, got, c.want)
		}
	}
}

func TestDateShift(t *testing.T) {
	tk, _ := New(testKeyset(t), customersPolicy(t))
	d1, err := tk.TokenizeValue("birth_date", "1990-03-01", "C-1")
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := tk.TokenizeValue("birth_date", "1990-04-10", "C-1")
	t1, _ := time.Parse("2006-01-02", d1)
	t2, _ := time.Parse("2006-01-02", d2)
	if t2.Sub(t1) != 40*24*time.Hour {
		t.Errorf("one entity's interval changed: %s -> %s", d1, d2)
	}
	orig, _ := time.Parse("2006-01-02", "1990-03-01")
	shift := t1.Sub(orig).Hours() / 24
	if shift == 0 || shift < -90 || shift > 90 {
		t.Errorf("shift of %v days, want 1..90 either way", shift)
	}
	// Offsets differ across entities (almost always: check several).
	shifts := map[string]bool{}
	for _, e := range []string{"C-1", "C-2", "C-3", "C-4", "C-5", "C-6"} {
		d, _ := tk.TokenizeValue("birth_date", "1990-03-01", e)
		shifts[d] = true
	}
	if len(shifts) < 3 {
		t.Errorf("six entities share %d offsets", len(shifts))
	}
	if _, err := tk.TokenizeValue("birth_date", "1990-03-01", ""); !errors.Is(err, ErrValue) {
		t.Errorf("no entity: %v", err)
	}
	if _, err := tk.TokenizeValue("birth_date", "03/01/1990", "C-1"); !errors.Is(err, ErrValue) {
		t.Errorf("wrong layout: %v", err)
	}
}

func TestScanText(t *testing.T) {
	tk, _ := New(testKeyset(t), customersPolicy(t))
	in := "Call 415-555-0132 or mail ada@example.com; SSN 123-45-6788, key AKIAIOSFODNN7EXAMPLE. Order 1700000000000."
	out, err := tk.TokenizeValue("notes", in, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"415-555-0132", "ada@example.com", "123-45-6788", "AKIAIOSFODNN7EXAMPLE"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q left in %q", leak, out)
		}
	}
	for _, want := range []string{"<PHONE_NUMBER:", "<EMAIL_ADDRESS:", "<US_SSN:", "<AWS_ACCESS_KEY_ID>", "Order 1700000000000."} {
		if !strings.Contains(out, want) {
			t.Errorf("%q lacks %q", out, want)
		}
	}
	back, err := tk.DetokenizeValue("notes", out)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, "AKIAIOSFODNN7EXAMPLE", "<AWS_ACCESS_KEY_ID>", 1)
	if back != want {
		t.Errorf("detokenized notes:\n got %q\nwant %q", back, want)
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, c := range []struct{ json, want string }{
		{`{"version":2,"fields":[{"name":"a","op":"hash"}]}`, "version 2"},
		{`{"version":1,"fields":[]}`, "no fields"},
		{`{"version":1,"fields":[{"name":"a","op":"hash","alphabet":"digits"}]}`, "alphabet does not apply"},
		{`{"version":1,"fields":[{"name":"a","op":"fpe"}]}`, "needs an alphabet"},
		{`{"version":1,"fields":[{"name":"a","op":"fpe","alphabet":"klingon"}]}`, "unknown alphabet"},
		{`{"version":1,"fields":[{"name":"a","op":"date-shift"}]}`, "needs an entity"},
		{`{"version":1,"fields":[{"name":"a","op":"frobnicate"}]}`, "unknown op"},
		{`{"version":1,"fields":[{"name":"a","op":"hash"},{"name":"a","op":"mask"}]}`, "named twice"},
		{`{"version":1,"fields":[{"name":"a","op":"hash","lenght":8}]}`, "unknown field"},
		{"{\"version\":1,\n\"fields\":[{\"name\":\"a\",\"op\":\"hash\",}]}", "line 2"},
		{`{"version":1,"fields":[{"name":"a","op":"scan","detectors":["FOO"]}]}`, "not one of"},
	} {
		_, err := ParsePolicy([]byte(c.json))
		if !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrPolicy saying %q", c.json, err, c.want)
		}
	}
	p := customersPolicy(t)
	p.Fields[3].Separators = ptr("-5")
	if _, err := New(testKeyset(t), p); !errors.Is(err, ErrPolicy) {
		t.Errorf("separator in the alphabet: %v", err)
	}
}

// TestFormatDocPolicy checks that FORMAT.md's example policy is valid and
// works on the documented table.
func TestFormatDocPolicy(t *testing.T) {
	doc, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- policy-example -->\n```json\n")
	body, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("FORMAT.md has no policy example")
	}
	p, err := ParsePolicy([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	tk := mustNew(t, p)
	var out bytes.Buffer
	if _, err := tk.Tokenize(&out, strings.NewReader(customersCSV), Options{Format: FormatCSV}); err != nil {
		t.Fatal(err)
	}
}

// TestTokenCache checks that cached tokens equal fresh ones, past the
// cache's capacity (so shards are cleared), from several goroutines.
func TestTokenCache(t *testing.T) {
	p := customersPolicy(t)
	cached := mustNew(t, p)
	n := 16*cacheShardSize + 5000
	want := make([]string, n)
	for i := range n {
		o := cached.byName["email"]
		tok, err := o.deterministic(fmt.Sprint("v", i), o.siv)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = tok
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for k := range 2 * n {
				i := (k*7 + g*13) % n
				got, err := cached.TokenizeValue("email", fmt.Sprint("v", i), "")
				if err != nil || got != want[i] {
					t.Errorf("value %d: %q %v, want %q", i, got, err, want[i])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestTokenCacheSwitches checks that the token cache turns itself off on
// distinct values and on again when values repeat, and that tokens are the
// same either way.
func TestTokenCacheSwitches(t *testing.T) {
	tk := mustNew(t, customersPolicy(t))
	o := tk.byName["email"]
	run := func(value func(i int) string) {
		n := newValueCounts(len(tk.ops))
		for i := range 2 * cacheWindow {
			v := value(i)
			got, err := o.appendToken(nil, []byte(v), nil, n)
			want, _ := o.deterministic(v, o.siv)
			if err != nil || string(got) != want {
				t.Fatalf("%q: %q %v, want %q", v, got, err, want)
			}
			if i%512 == 511 {
				tk.reportCaches(n)
				n = newValueCounts(len(tk.ops))
			}
		}
	}
	run(func(i int) string { return fmt.Sprint("distinct", i) })
	if !o.cache.off.Load() {
		t.Error("the cache is on after distinct values")
	}
	run(func(i int) string { return fmt.Sprint("repeated", i%8) })
	if o.cache.off.Load() {
		t.Error("the cache is off after repeated values")
	}
}

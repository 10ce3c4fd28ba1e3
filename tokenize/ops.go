package tokenize

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mlseal/mlseal/tokenize/ff1"
)

// Errors about single values. The record-level errors of the streaming
// functions wrap them in a *RecordError naming the record and the field.
var (
	// ErrValue means a value cannot be transformed by its field's
	// operation: a character outside the fpe alphabet, too few characters
	// for FF1, a date that does not match the layout, a missing entity.
	ErrValue = errors.New("value cannot be transformed")
	// ErrToken means a value is not a token this keyset made for the
	// field's domain, so it cannot be detokenized.
	ErrToken = errors.New("not a valid token for this keyset and domain")
	// ErrKeyVersion means the policy cannot tell which PRF key made a field's
	// FF1 tokens: the keyset holds several PRF keys and the policy pins none.
	ErrKeyVersion = errors.New("the policy does not name the PRF key version")
)

// fieldOp is a Field compiled against a Keyset: keys derived, ciphers and
// alphabets built. It is safe for concurrent use.
type fieldOp struct {
	idx      int // in Tokenizer.ops
	f        *Field
	domain   string
	siv      *sivDomain // deterministic: AES-SIV keys with the domain as associated data
	pass     bool       // on_invalid: pass
	prfKeyID uint32
	pinned   bool // the PRF key was named by the policy

	ks *Keyset

	// fpe
	ff1      *ff1.Cipher
	alpha    *alphabet
	seps     *runeSet
	keepLast int
	phone    bool // parse: phone

	// hash, date-shift: HMAC-SHA256 with a derived key
	hmacPool *sync.Pool
	length   int

	// mask
	maskChar rune

	// date-shift
	window int
	layout string

	// scan
	detectors []*detector
	spanOp    string
	spanKeys  map[string]*sivDomain // by span type

	cache     *tokenCache // deterministic tokens of recent values
	ambiguous bool        // fpe: several PRF keys and none pinned
}

func compileField(ks *Keyset, p *Policy, f *Field) (*fieldOp, error) {
	o := &fieldOp{f: f, domain: f.domain(), pass: f.OnInvalid == "pass", ks: ks}
	switch {
	case f.PRFKeyID != 0:
		o.prfKeyID, o.pinned = f.PRFKeyID, true
	case p.PRFKeyID != 0:
		o.prfKeyID, o.pinned = p.PRFKeyID, true
	default:
		o.prfKeyID = ks.PrimaryPRFKeyID()
	}
	if !ks.hasPRFKey(o.prfKeyID) {
		return nil, fmt.Errorf("%w: field %q: the keyset holds no PRF key %d (it holds %v)", ErrPolicy, f.Name, o.prfKeyID, keyIDs(ks.Info().PRF))
	}
	seps := DefaultSeparators
	o.phone = f.Parse == "phone"
	if f.Separators != nil {
		seps = *f.Separators
	}
	o.seps = newRuneSet(seps)
	newHMAC := func(purpose string) error {
		key, err := ks.deriveKey(o.prfKeyID, purpose, o.domain)
		if err != nil {
			return err
		}
		o.hmacPool = &sync.Pool{New: func() any { return &macState{h: hmac.New(sha256.New, key)} }}
		return nil
	}
	o.ambiguous = !o.pinned && len(ks.prfs.PRFs) > 1
	switch f.Op {
	case OpDeterministic:
		o.cache = newTokenCache()
		o.siv = ks.siv.domain([]byte(o.domain))
	case OpFPE:
		a, err := parseAlphabet(f.Alphabet)
		if err != nil {
			return nil, err
		}
		for _, r := range seps {
			if _, in := a.index(r); in {
				return nil, fmt.Errorf("%w: field %q: separator %q is in the alphabet", ErrPolicy, f.Name, r)
			}
		}
		key, err := ks.deriveKey(o.prfKeyID, "ff1", o.domain)
		if err != nil {
			return nil, err
		}
		if o.ff1, err = ff1.NewCipher(key, a.radix()); err != nil {
			return nil, err
		}
		o.alpha = a
		if f.KeepLast != nil {
			o.keepLast = *f.KeepLast
		}
	case OpHash:
		o.length = f.Length
		if o.length == 0 {
			o.length = DefaultHashLength
		}
		if err := newHMAC("hash"); err != nil {
			return nil, err
		}
	case OpMask:
		o.keepLast = DefaultMaskKeep
		if f.KeepLast != nil {
			o.keepLast = *f.KeepLast
		}
		mc := f.MaskChar
		if mc == "" {
			mc = DefaultMaskChar
		}
		o.maskChar, _ = utf8.DecodeRuneInString(mc)
	case OpDateShift:
		o.window = f.WindowDays
		if o.window == 0 {
			o.window = DefaultWindowDays
		}
		o.layout = f.Layout
		switch strings.ToLower(o.layout) {
		case "":
			o.layout = DefaultDateLayout
		case "rfc3339":
			o.layout = time.RFC3339
		}
		if err := newHMAC("date-shift"); err != nil {
			return nil, err
		}
	case OpScan:
		o.spanOp = f.SpanOp
		if o.spanOp == "" {
			o.spanOp = OpDeterministic
		}
		o.detectors = textDetectors(f.Detectors)
		o.spanKeys = map[string]*sivDomain{}
		for _, typ := range textDetectorNames() {
			o.spanKeys[typ] = ks.siv.domain([]byte(o.domain + "\x00" + typ))
		}
		if o.spanOp == OpHash {
			o.length = DefaultHashLength
			if err := newHMAC("hash"); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

// tokenize transforms one non-empty value. entity is the value of the
// date-shift entity field.
func (o *fieldOp) tokenize(v, entity string) (string, error) {
	var out string
	var err error
	switch o.f.Op {
	case OpDeterministic:
		var ok bool
		if out, ok = o.cache.get(v); !ok {
			out, err = o.deterministic(v, o.siv)
			if err == nil {
				o.cache.put(v, out)
			}
		}
	case OpFPE:
		if o.ambiguous {
			return "", o.errKeyVersion()
		}
		out, err = o.fpe(v, false)
	case OpHash:
		out = o.hash(v)
	default:
		out, err = o.transform(v, entity)
	}
	if err != nil && o.pass && errors.Is(err, ErrValue) {
		return v, nil
	}
	return out, err
}

// transform is tokenize for the operations without a fast path, and
// without on_invalid.
func (o *fieldOp) transform(v, entity string) (string, error) {
	switch o.f.Op {
	case OpMask:
		return o.mask(v), nil
	case OpRedact:
		return o.f.Replace, nil
	case OpDateShift:
		return o.dateShift(v, entity)
	case OpScan:
		return o.scanText(v)
	}
	return "", fmt.Errorf("unknown op %q", o.f.Op)
}

// valueCounts are one batch's counts, by Tokenizer.ops index.
type valueCounts struct {
	passed []int64    // values left as they were by on_invalid: pass
	cache  []cacheUse // deterministic: the token cache's use
	// record lists the fields passed in the current record, so that a
	// rejected record's are taken back (its values are not written).
	record []int
}

// startRecord forgets the last record's passed fields.
func (n *valueCounts) startRecord() { n.record = n.record[:0] }

// dropRecord takes back the passed values of a record that is not written.
func (n *valueCounts) dropRecord() {
	for _, i := range n.record {
		n.passed[i]--
	}
	n.record = n.record[:0]
}

func newValueCounts(nops int) *valueCounts {
	return &valueCounts{passed: make([]int64, nops), cache: make([]cacheUse, nops)}
}

// appendToken appends the token of the non-empty value v to dst; entity is
// the value of the date-shift entity field. Deterministic, fpe and hash
// tokens are written straight into dst. A value that on_invalid: pass
// leaves as it is is counted in n.
func (o *fieldOp) appendToken(dst, v, entity []byte, n *valueCounts) ([]byte, error) {
	start := len(dst)
	var err error
	switch o.f.Op {
	case OpDeterministic:
		dst = o.appendDeterministic(dst, v, &n.cache[o.idx])
	case OpFPE:
		if len(v) <= 64 && o.alpha.other == nil && !o.phone && isASCII(v) {
			dst, err = fpeASCII(o, dst, v, false)
		} else {
			var s string
			s, err = o.fpe(string(v), false)
			dst = append(dst, s...)
		}
	case OpHash:
		dst = o.appendHash(dst, v)
	default:
		var s string
		s, err = o.transform(string(v), string(entity))
		dst = append(dst, s...)
	}
	if err != nil {
		dst = dst[:start]
		if o.pass && errors.Is(err, ErrValue) {
			n.passed[o.idx]++
			n.record = append(n.record, o.idx)
			return append(dst, v...), nil
		}
		return dst, err
	}
	return dst, nil
}

// appendDeterministic appends v's deterministic token, from the token
// cache while the cache pays.
func (o *fieldOp) appendDeterministic(dst, v []byte, u *cacheUse) []byte {
	use := o.cache.use(u)
	if use {
		if tok, ok := o.cache.lookup(v, u); ok {
			return append(dst, tok...)
		}
	}
	start := len(dst)
	var buf [128]byte
	ct := o.siv.seal(buf[:0], v)
	dst = base64.RawURLEncoding.AppendEncode(dst, ct)
	if use {
		o.cache.put(string(v), string(dst[start:]))
	}
	return dst
}

// errKeyVersion is the error for FF1 tokens, made or read, whose PRF key the
// policy does not name while the keyset holds several: tokens made so
// could not be detokenized with the policy, and tokens read so could be
// any key's.
func (o *fieldOp) errKeyVersion() error {
	return fmt.Errorf("%w: the keyset holds %d PRF keys (%v) and FF1 tokens do not say which made them; set prf_key_id in the policy (to tokenize, the primary, %d; to detokenize, the key that made the tokens)",
		ErrKeyVersion, len(o.ks.prfs.PRFs), keyIDs(o.ks.Info().PRF), o.ks.PrimaryPRFKeyID())
}

// detokenize reverses a reversible operation; the others return v.
func (o *fieldOp) detokenize(v string) (string, error) {
	switch o.f.Op {
	case OpDeterministic:
		return o.undeterministic(v, o.siv)
	case OpFPE:
		if o.ambiguous {
			return "", o.errKeyVersion()
		}
		out, err := o.fpe(v, true)
		if err != nil && o.pass && errors.Is(err, ErrValue) {
			return v, nil
		}
		return out, err
	case OpScan:
		return o.unscanText(v)
	}
	return v, nil
}

// deterministic returns base64url(AES-SIV(v)) under the keys of d, with
// tink's 5-byte key prefix at the front of the ciphertext.
func (o *fieldOp) deterministic(v string, d *sivDomain) (string, error) {
	return base64.RawURLEncoding.EncodeToString(d.seal(nil, []byte(v))), nil
}

func (o *fieldOp) undeterministic(tok string, d *sivDomain) (string, error) {
	ct, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(ct) < 5+16 {
		return "", fmt.Errorf("%w: not base64url of a tink AES-SIV ciphertext", ErrToken)
	}
	pt, err := d.open(ct)
	if err != nil {
		id := binary.BigEndian.Uint32(ct[1:5])
		if ct[0] == 1 && !contains32(keyIDs(o.ks.Info().Deterministic), id) {
			return "", fmt.Errorf("%w: made by key %d, which the keyset does not hold", ErrToken, id)
		}
		return "", ErrToken
	}
	return string(pt), nil
}

func contains32(list []uint32, x uint32) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// fpe encrypts (or decrypts) the alphabet characters of v with FF1, leaving
// separators in place and the last keepLast alphabet characters in the
// clear. The tweak is domain || 0x00 || the clear characters. A phone
// number's country code and extension stay in the clear, outside the tweak.
func (o *fieldOp) fpe(v string, decrypt bool) (string, error) {
	if o.phone {
		prefix, number, ext := phoneParts(v)
		out, err := o.fpeChars(number, decrypt)
		if err != nil {
			return "", err
		}
		return prefix + out + ext, nil
	}
	return o.fpeChars(v, decrypt)
}

// fpeChars is fpe without parsing.
func (o *fieldOp) fpeChars(v string, decrypt bool) (string, error) {
	if len(v) <= 64 && o.alpha.other == nil && isASCII(v) {
		var buf [64]byte
		out, err := fpeASCII(o, buf[:0], v, decrypt)
		return string(out), err
	}
	var runeBuf [64]rune
	runes := append(runeBuf[:0], []rune(v)...)
	var numBuf [64]uint16
	var posBuf [64]int
	nums, pos := numBuf[:0], posBuf[:0]
	for i, r := range runes {
		if d, ok := o.alpha.index(r); ok {
			nums = append(nums, d)
			pos = append(pos, i)
			continue
		}
		if o.seps.has(r) {
			continue
		}
		if r == utf8.RuneError && !utf8.ValidString(v) {
			return "", fmt.Errorf("%w: not valid UTF-8", ErrValue)
		}
		return "", fmt.Errorf("%w: character %q at position %d is neither in alphabet %s nor a separator", ErrValue, r, i+1, o.alpha.name)
	}
	n := len(nums) - o.keepLast
	if n < o.ff1.MinLen() {
		return "", fmt.Errorf("%w: %d characters of alphabet %s to encrypt (after keep_last %d); FF1 needs at least %d for a domain of %d values",
			ErrValue, max(n, 0), o.alpha.name, o.keepLast, o.ff1.MinLen(), ff1.MinDomain)
	}
	var tweakBuf [128]byte
	tweak := append(tweakBuf[:0], o.domain...)
	tweak = append(tweak, 0)
	for _, p := range pos[n:] {
		tweak = utf8.AppendRune(tweak, runes[p])
	}
	var err error
	if decrypt {
		err = o.ff1.Decrypt(nums[:n], nums[:n], tweak)
	} else {
		err = o.ff1.Encrypt(nums[:n], nums[:n], tweak)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrValue, err)
	}
	for k, p := range pos[:n] {
		runes[p] = o.alpha.runes[nums[k]]
	}
	return string(runes), nil
}

// A macState is a keyed HMAC-SHA256 and room for its sum, pooled: a sum
// written through the hash.Hash interface would escape to the heap.
type macState struct {
	h   hash.Hash
	sum [32]byte
}

// mac returns HMAC-SHA256 of v under the field's derived key.
func mac[S ~string | ~[]byte](o *fieldOp, v S) [32]byte {
	m := o.hmacPool.Get().(*macState)
	m.h.Reset()
	m.h.Write([]byte(v))
	m.h.Sum(m.sum[:0])
	sum := m.sum
	o.hmacPool.Put(m)
	return sum
}

// appendHash appends the first length characters of
// base64url(HMAC-SHA256(v)).
func (o *fieldOp) appendHash(dst []byte, v []byte) []byte {
	sum := mac(o, v)
	var enc [44]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return append(dst, enc[:o.length]...)
}

// hash is appendHash for a string.
func (o *fieldOp) hash(v string) string {
	sum := mac(o, v)
	var enc [44]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return string(enc[:o.length])
}

// mask replaces every character but the separators and the last keepLast
// others with the mask character.
func (o *fieldOp) mask(v string) string {
	runes := []rune(v)
	kept := 0
	for i := len(runes) - 1; i >= 0; i-- {
		if o.seps.has(runes[i]) {
			continue
		}
		if kept < o.keepLast {
			kept++
			continue
		}
		runes[i] = o.maskChar
	}
	return string(runes)
}

// shiftDays returns the entity's offset in days: in [-window, -1] or
// [1, window], from HMAC-SHA256(entity) under the field's derived key.
func (o *fieldOp) shiftDays(entity string) int {
	sum := mac(o, entity)
	w := uint64(o.window)
	r := binary.BigEndian.Uint64(sum[:8]) % (2 * w)
	if r < w {
		return int(r) - o.window
	}
	return int(r-w) + 1
}

func (o *fieldOp) dateShift(v, entity string) (string, error) {
	if entity == "" {
		return "", fmt.Errorf("%w: the entity field %q is empty or missing", ErrValue, o.f.Entity)
	}
	t, err := time.Parse(o.layout, v)
	if err != nil {
		return "", fmt.Errorf("%w: not a date in layout %q", ErrValue, o.layout)
	}
	return t.AddDate(0, 0, o.shiftDays(entity)).Format(o.layout), nil
}

func isASCII[S ~string | ~[]byte](s S) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// fpeASCII appends fpe of a short ASCII value with an ASCII alphabet to
// dst, allocating nothing.
func fpeASCII[S ~string | ~[]byte](o *fieldOp, dst []byte, v S, decrypt bool) ([]byte, error) {
	start := len(dst)
	dst = append(dst, v...)
	b := dst[start:]
	var numBuf [64]uint16
	var posBuf [64]uint8
	nums, pos := numBuf[:0], posBuf[:0]
	for i, c := range b {
		if d, ok := o.alpha.index(rune(c)); ok {
			nums = append(nums, d)
			pos = append(pos, uint8(i))
			continue
		}
		if o.seps.has(rune(c)) {
			continue
		}
		return dst[:start], fmt.Errorf("%w: character %q at position %d is neither in alphabet %s nor a separator", ErrValue, rune(c), i+1, o.alpha.name)
	}
	n := len(nums) - o.keepLast
	if n < o.ff1.MinLen() {
		return dst[:start], fmt.Errorf("%w: %d characters of alphabet %s to encrypt (after keep_last %d); FF1 needs at least %d for a domain of %d values",
			ErrValue, max(n, 0), o.alpha.name, o.keepLast, o.ff1.MinLen(), ff1.MinDomain)
	}
	var tweakBuf [128]byte
	tweak := append(tweakBuf[:0], o.domain...)
	tweak = append(tweak, 0)
	for _, p := range pos[n:] {
		tweak = append(tweak, b[p])
	}
	var err error
	if decrypt {
		err = o.ff1.Decrypt(nums[:n], nums[:n], tweak)
	} else {
		err = o.ff1.Encrypt(nums[:n], nums[:n], tweak)
	}
	if err != nil {
		return dst[:start], fmt.Errorf("%w: %w", ErrValue, err)
	}
	for k, p := range pos[:n] {
		b[p] = byte(o.alpha.runes[nums[k]])
	}
	return dst, nil
}

// fpeInt encrypts (or decrypts) the decimal digits of x with FF1, keeping
// its sign and its number of digits, so that the result fits the column
// (int32 when is32, else int64): FF1 is applied again while its result has
// a leading zero or is out of range ("cycle walking"), which keeps it a
// permutation of the numbers of that many digits that fit. The tweak is
// the domain and a zero byte, as for strings.
func (o *fieldOp) fpeInt(x int64, is32, decrypt bool) (int64, error) {
	if o.ambiguous {
		return 0, o.errKeyVersion()
	}
	neg := x < 0
	u := uint64(x)
	if neg {
		u = -u
	}
	limit := uint64(math.MaxInt64)
	if is32 {
		limit = math.MaxInt32
	}
	if neg {
		limit++
	}
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], u, 10)
	n := len(digits)
	if n < o.ff1.MinLen() {
		return 0, fmt.Errorf("%w: %d has %d digits; FF1 needs at least %d for a domain of %d values", ErrValue, x, n, o.ff1.MinLen(), ff1.MinDomain)
	}
	var numBuf [20]uint16
	nums := numBuf[:n]
	for i, d := range digits {
		nums[i] = uint16(d - '0')
	}
	var tweakBuf [128]byte
	tweak := append(append(tweakBuf[:0], o.domain...), 0)
	for {
		var err error
		if decrypt {
			err = o.ff1.Decrypt(nums, nums, tweak)
		} else {
			err = o.ff1.Encrypt(nums, nums, tweak)
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrValue, err)
		}
		if nums[0] == 0 {
			continue
		}
		var v uint64
		for _, d := range nums {
			v = v*10 + uint64(d)
		}
		if v > limit {
			continue
		}
		if neg {
			return int64(-v), nil
		}
		return int64(v), nil
	}
}

// phoneParts splits a phone number into what stays in the clear before it
// (a North American country code: "+1", or a "1" followed by a separator,
// before ten digits; with the separators after it), the number, and what
// stays in the clear after it (an extension: "x12", "ext. 12", "ext 12",
// "extension 12" or "#12", of up to six digits, with the spaces, commas
// or semicolons before it).
func phoneParts(v string) (prefix, number, ext string) {
	number = v
	// The extension.
	i := len(number)
	for i > 0 && isDigit(number[i-1]) {
		i--
	}
	if n := len(number) - i; n > 0 && n <= 6 {
		j := i
		for j > 0 && (number[j-1] == ' ' || number[j-1] == '.' || number[j-1] == ':') {
			j--
		}
		head := strings.ToLower(number[:j])
		for _, m := range []string{"extension", "ext", "x", "#"} {
			if !strings.HasSuffix(head, m) {
				continue
			}
			k := j - len(m)
			for k > 0 && (number[k-1] == ' ' || number[k-1] == ',' || number[k-1] == ';') {
				k--
			}
			if k > 0 && isDigit(number[k-1]) || k > 0 && number[k-1] == ')' {
				number, ext = number[:k], number[k:]
			}
			break
		}
	}
	// The country code.
	digits := 0
	for i := range len(number) {
		if isDigit(number[i]) {
			digits++
		}
	}
	if digits != 11 {
		return "", number, ext
	}
	var k int
	switch {
	case strings.HasPrefix(number, "+1"):
		k = 2
	case strings.HasPrefix(number, "1") && len(number) > 1 && strings.IndexByte(" -.(/", number[1]) >= 0:
		k = 1
	default:
		return "", number, ext
	}
	for k < len(number) && strings.IndexByte(" -./", number[k]) >= 0 {
		k++
	}
	return number[:k], number[k:], ext
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

package secrets

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The schemes of references.
const (
	SchemeSecretsManager = "secretsmanager"
	SchemeSSM            = "ssm"
	SchemeEnv            = "env"
	SchemeFile           = "file"
)

// Version stages of Secrets Manager.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// A Ref names a secret: where it lives, which version, and optionally one
// key inside a JSON value. Parse one with [ParseRef]; the syntax is
//
//	secretsmanager://NAME-OR-ARN[?stage=STAGE | ?version-id=ID][#KEY]
//	ssm://NAME[?version=N | ?label=LABEL][&decrypt=false][#KEY]
//	env://VARIABLE[#KEY]
//	file://PATH[#KEY]
//
// secretsmanager:// names a secret by name (letters, digits and /_+=.@-)
// or by full or partial ARN. Without a query the version staged
// AWSCURRENT is read; ?stage= picks another staging label (AWSPREVIOUS,
// AWSPENDING or a custom one) and ?version-id= one version. The two are
// exclusive.
//
// ssm:// names an SSM parameter; a hierarchical name keeps its leading
// slash, so the parameter /prod/db/password is ssm:///prod/db/password
// (three slashes), and a flat one is ssm://db-password. An ARN of a shared
// parameter works too. SecureString parameters are decrypted. Without a
// query the latest version is read; ?version=3 reads version 3 and
// ?label=prod the version labelled prod. The two are exclusive.
// decrypt=false (ssm://NAME?decrypt=false when it is the only parameter)
// reads a SecureString as SSM stores it, encrypted (base64 of its KMS
// ciphertext), which needs no kms:Decrypt.
//
// env:// names an environment variable of the current process.
//
// file:// names a file: file:///etc/app/db.json is absolute,
// file://secrets/db.json is relative to the working directory. In the path,
// %XX escapes are decoded, so a name with '?', '#' or '%' can be written.
// The whole file is the value (a final newline included).
//
// #KEY selects one member of a value that is a JSON object: #password, or
// a dotted path into nested objects, #db.password; a decimal segment
// indexes an array (#hosts.0). In each segment %XX escapes are decoded, so
// a key that contains a dot is written with %2E. A string member is the
// value as it is; a number, boolean, object or array member is its compact
// JSON text. Without #KEY the whole value is used.
//
// Refs are comparable values; two Refs that name the same thing in
// different spellings (an explicit ?stage=AWSCURRENT, say) are equal.
type Ref struct {
	scheme    string
	name      string // secret name or ARN, parameter name, variable, path
	stage     string // secretsmanager: staging label ("" means AWSCURRENT)
	versionID string // secretsmanager: version id
	version   int64  // ssm: version number, 0 for latest
	label     string // ssm: label
	encrypted bool   // ssm: decrypt=false
	key       string // the key as written after '#', "" for none
	source    string // canonical form without the key
}

// RefError reports a reference that does not parse.
type RefError struct {
	// Ref is the reference as given, or empty when it did not look like a
	// reference at all (it may then be a secret value typed by mistake, so
	// it is not repeated).
	Ref string
	// Part names the part that is wrong: "scheme", "name", "query",
	// "stage", "version-id", "version", "label" or "key".
	Part string
	// Problem says what is wrong with it.
	Problem string
}

func (e *RefError) Error() string {
	if e.Ref == "" {
		return fmt.Sprintf("secret reference: %s: %s", e.Part, e.Problem)
	}
	return fmt.Sprintf("secret reference %q: %s: %s", e.Ref, e.Part, e.Problem)
}

// ParseRef parses a reference; see [Ref] for the syntax. Its errors are
// *RefError values that name the part that is wrong.
func ParseRef(s string) (Ref, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Ref{}, noScheme(s)
	}
	fail := func(part, format string, args ...any) (Ref, error) {
		return Ref{}, &RefError{Ref: s, Part: part, Problem: fmt.Sprintf(format, args...)}
	}
	switch scheme {
	case SchemeSecretsManager, SchemeSSM, SchemeEnv, SchemeFile:
	default:
		if !isSchemeLike(scheme) {
			return Ref{}, noScheme(s)
		}
		return Ref{}, &RefError{Ref: s, Part: "scheme", Problem: fmt.Sprintf("unknown scheme %q: want secretsmanager, ssm, env or file", scheme)}
	}
	r := Ref{scheme: scheme}
	var query string
	hasKey := false
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest, r.key, hasKey = rest[:i], rest[i+1:], true
	}
	hasQuery := false
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query, hasQuery = rest[:i], rest[i+1:], true
	}
	r.name = rest
	if hasKey {
		segs, err := splitKey(r.key)
		if err != nil {
			return fail("key", "%v", err)
		}
		r.key = joinKey(segs)
	}
	if hasQuery && scheme != SchemeSecretsManager && scheme != SchemeSSM {
		return fail("query", "%s references take no query (a file name with '?' is written with %%3F)", scheme)
	}
	params, err := parseQuery(query, hasQuery)
	if err != nil {
		return fail("query", "%v", err)
	}

	switch scheme {
	case SchemeSecretsManager:
		if err := checkSecretID(r.name); err != nil {
			return fail("name", "%v", err)
		}
		for k, v := range params {
			switch k {
			case "stage":
				if err := checkStage(v); err != nil {
					return fail("stage", "%v", err)
				}
				r.stage = v
			case "version-id":
				if err := checkVersionID(v); err != nil {
					return fail("version-id", "%v", err)
				}
				r.versionID = v
			default:
				return fail("query", "unknown parameter %q: secretsmanager references take stage or version-id", k)
			}
		}
		if r.stage != "" && r.versionID != "" {
			return fail("query", "stage and version-id are exclusive: give one")
		}
		if r.stage == StageCurrent {
			r.stage = ""
		}
	case SchemeSSM:
		if err := checkParameterName(r.name); err != nil {
			return fail("name", "%v", err)
		}
		for k, v := range params {
			switch k {
			case "version":
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1 || v[0] == '+' {
					return fail("version", "%q is not a version number (1, 2, ...)", v)
				}
				r.version = n
			case "label":
				if err := checkLabel(v); err != nil {
					return fail("label", "%v", err)
				}
				r.label = v
			case "decrypt":
				if v != "true" && v != "false" {
					return fail("query", "decrypt is true or false, not %q", v)
				}
				r.encrypted = v == "false"
			default:
				return fail("query", "unknown parameter %q: ssm references take version or label, and decrypt", k)
			}
		}
		if r.version != 0 && r.label != "" {
			return fail("query", "version and label are exclusive: give one")
		}
	case SchemeEnv:
		if !isEnvName(r.name) {
			if r.name == "" {
				return fail("name", "no variable name: write env://NAME")
			}
			return fail("name", "%q is not a variable name (letters, digits and _, not starting with a digit)", r.name)
		}
	case SchemeFile:
		p, err := url.PathUnescape(r.name)
		if err != nil {
			return fail("name", "bad %%-escape in the path")
		}
		if p == "" {
			return fail("name", "no path: write file:///absolute/path or file://relative/path")
		}
		if strings.IndexByte(p, 0) >= 0 {
			return fail("name", "the path contains a NUL byte")
		}
		r.name = p
	}
	r.source = r.format(false)
	return r, nil
}

// MustParseRef is like ParseRef but panics on error; for references in
// code and tests.
func MustParseRef(s string) Ref {
	r, err := ParseRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func noScheme(s string) error {
	// Not echoed: a string without a scheme may be a value typed where a
	// reference was expected.
	return &RefError{Part: "scheme", Problem: "not a reference (want secretsmanager://, ssm://, env:// or file://...; the text is not repeated in case it is a secret value)"}
}

func isSchemeLike(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func parseQuery(q string, present bool) (map[string]string, error) {
	if !present {
		return nil, nil
	}
	if q == "" {
		return nil, fmt.Errorf("empty query after '?'")
	}
	params := map[string]string{}
	for _, kv := range strings.Split(q, "&") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not NAME=VALUE", kv)
		}
		if v == "" {
			return nil, fmt.Errorf("%s has an empty value", k)
		}
		if _, dup := params[k]; dup {
			return nil, fmt.Errorf("%s is given twice", k)
		}
		params[k] = v
	}
	return params, nil
}

func allowed(s, extra string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

// checkSecretID checks a Secrets Manager secret name or ARN.
func checkSecretID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("no secret name: write secretsmanager://NAME-OR-ARN")
	case len(id) > 2048:
		return fmt.Errorf("longer than 2048 characters")
	case strings.HasPrefix(id, "arn:"):
		// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME
		f := strings.SplitN(id, ":", 7)
		if len(f) != 7 || f[2] != "secretsmanager" || f[5] != "secret" || f[1] == "" || f[3] == "" || f[4] == "" || f[6] == "" {
			return fmt.Errorf("%q is not a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", id)
		}
		if !allowed(f[6], "/_+=.@-") || !allowed(f[1]+f[3]+f[4], "-") {
			return fmt.Errorf("%q is not a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)", id)
		}
	case len(id) > 512:
		return fmt.Errorf("a secret name is at most 512 characters")
	case !allowed(id, "/_+=.@-"):
		return fmt.Errorf("%q: a secret name has letters, digits and /_+=.@- only", id)
	}
	return nil
}

func checkStage(s string) error {
	if len(s) > 256 || !allowed(s, "_+=.@-") {
		return fmt.Errorf("%q is not a staging label (up to 256 letters, digits and _+=.@-)", s)
	}
	return nil
}

func checkVersionID(s string) error {
	if len(s) < 32 || len(s) > 64 || !allowed(s, "-") {
		return fmt.Errorf("%q is not a version id (32 to 64 letters, digits and -)", s)
	}
	return nil
}

// checkParameterName checks an SSM parameter name or ARN.
func checkParameterName(n string) error {
	switch {
	case n == "" || n == "/":
		return fmt.Errorf("no parameter name: write ssm:///path/to/name or ssm://name")
	case strings.HasPrefix(n, "arn:"):
		// arn:PARTITION:ssm:REGION:ACCOUNT:parameter/NAME
		f := strings.SplitN(n, ":", 6)
		if len(f) != 6 || f[2] != "ssm" || !strings.HasPrefix(f[5], "parameter/") || len(f[5]) == len("parameter/") ||
			!allowed(f[5], "_.-/") || !allowed(f[1]+f[3]+f[4], "-") || f[1] == "" || f[3] == "" || f[4] == "" {
			return fmt.Errorf("%q is not a parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)", n)
		}
	case len(n) > 2048:
		return fmt.Errorf("a parameter name is at most 2048 characters")
	case !allowed(n, "_.-/"):
		return fmt.Errorf("%q: a parameter name has letters, digits and _.-/ only", n)
	case strings.Contains(n, "/") && n[0] != '/':
		return fmt.Errorf("%q: a hierarchical name starts with /: write ssm:///%s (three slashes)", n, n)
	case strings.HasSuffix(n, "/") || strings.Contains(n, "//"):
		return fmt.Errorf("%q has an empty path segment", n)
	}
	return nil
}

func checkLabel(s string) error {
	if len(s) > 100 || !allowed(s, "_.-") || '0' <= s[0] && s[0] <= '9' {
		return fmt.Errorf("%q is not a parameter label (up to 100 letters, digits and _.-, not starting with a digit)", s)
	}
	return nil
}

func isEnvName(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	return allowed(s, "_")
}

// splitKey splits a JSON key path into its decoded segments.
func splitKey(k string) ([]string, error) {
	if k == "" {
		return nil, fmt.Errorf("empty key after '#'")
	}
	segs := strings.Split(k, ".")
	for i, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("empty segment in %q (a dot in a key is written %%2E)", k)
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, fmt.Errorf("bad %%-escape in %q", k)
		}
		segs[i] = d
	}
	return segs, nil
}

// joinKey is the canonical spelling of a key path: '%' and '.' escaped.
func joinKey(segs []string) string {
	var b strings.Builder
	for i, s := range segs {
		if i > 0 {
			b.WriteByte('.')
		}
		for j := 0; j < len(s); j++ {
			switch c := s[j]; c {
			case '%', '.':
				fmt.Fprintf(&b, "%%%02X", c)
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// Scheme returns the reference's scheme: secretsmanager, ssm, env or file.
func (r Ref) Scheme() string { return r.scheme }

// Name returns the secret name or ARN, the parameter name, the variable
// name or the (decoded) file path.
func (r Ref) Name() string { return r.name }

// Stage returns the Secrets Manager staging label to read: AWSCURRENT
// unless another is given, and "" when a version id is given or for other
// schemes.
func (r Ref) Stage() string {
	if r.scheme != SchemeSecretsManager || r.versionID != "" {
		return ""
	}
	if r.stage == "" {
		return StageCurrent
	}
	return r.stage
}

// VersionID returns the Secrets Manager version id, or "".
func (r Ref) VersionID() string { return r.versionID }

// Version returns the SSM parameter version, or 0 for the latest.
func (r Ref) Version() int64 { return r.version }

// Label returns the SSM parameter label, or "".
func (r Ref) Label() string { return r.label }

// Decrypt reports whether an SSM SecureString is read decrypted: true
// unless the reference says decrypt=false.
func (r Ref) Decrypt() bool { return !r.encrypted }

// Key returns the JSON key in canonical form (as written after '#', with
// only '%' and '.' inside segments escaped), or "" for the whole value.
func (r Ref) Key() string { return r.key }

// KeyPath returns the decoded segments of the JSON key, or nil.
func (r Ref) KeyPath() []string {
	if r.key == "" {
		return nil
	}
	segs, _ := splitKey(r.key)
	return segs
}

// IsZero reports whether r is the zero Ref, which names nothing.
func (r Ref) IsZero() bool { return r.scheme == "" }

// Source returns r without its JSON key: what is fetched from the service.
// References that differ only in their keys share one fetch and one cache
// entry.
func (r Ref) Source() Ref {
	r.key = ""
	return r
}

// String returns the reference in canonical form, which ParseRef parses to
// an equal Ref.
func (r Ref) String() string {
	if r.key == "" {
		return r.source
	}
	return r.source + "#" + r.key
}

// selector is the SSM name with its :version or :label selector, as the
// GetParameter and GetParameters APIs take it.
func (r Ref) selector() string {
	switch {
	case r.version != 0:
		return r.name + ":" + strconv.FormatInt(r.version, 10)
	case r.label != "":
		return r.name + ":" + r.label
	}
	return r.name
}

func (r Ref) format(withKey bool) string {
	var b strings.Builder
	b.WriteString(r.scheme)
	b.WriteString("://")
	if r.scheme == SchemeFile {
		b.WriteString(escapePath(r.name))
	} else {
		b.WriteString(r.name)
	}
	switch {
	case r.stage != "":
		b.WriteString("?stage=" + r.stage)
	case r.versionID != "":
		b.WriteString("?version-id=" + r.versionID)
	case r.version != 0:
		b.WriteString("?version=" + strconv.FormatInt(r.version, 10))
	case r.label != "":
		b.WriteString("?label=" + r.label)
	}
	if r.encrypted {
		if r.version != 0 || r.label != "" {
			b.WriteString("&decrypt=false")
		} else {
			b.WriteString("?decrypt=false")
		}
	}
	if withKey && r.key != "" {
		b.WriteString("#" + r.key)
	}
	return b.String()
}

// escapePath escapes the characters of a file path that the reference
// syntax gives a meaning to.
func escapePath(p string) string {
	if !strings.ContainsAny(p, "%?#") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

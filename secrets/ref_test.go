package secrets

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf"
	for _, tc := range []struct {
		in                                  string
		scheme, name, stage, versionID, key string
		version                             int64
		label                               string
		canonical                           string // "" means in
		path                                []string
	}{
		{in: "secretsmanager://prod/db", scheme: "secretsmanager", name: "prod/db", stage: "AWSCURRENT"},
		{in: "secretsmanager://prod/db?stage=AWSCURRENT", scheme: "secretsmanager", name: "prod/db", stage: "AWSCURRENT", canonical: "secretsmanager://prod/db"},
		{in: "secretsmanager://prod/db?stage=AWSPREVIOUS#password", scheme: "secretsmanager", name: "prod/db", stage: "AWSPREVIOUS", key: "password", path: []string{"password"}},
		{in: "secretsmanager://db?version-id=EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE", scheme: "secretsmanager", name: "db", versionID: "EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE"},
		{in: "secretsmanager://" + arn + "#db.password", scheme: "secretsmanager", name: arn, stage: "AWSCURRENT", key: "db.password", path: []string{"db", "password"}},
		{in: "secretsmanager://a_b+c=d.e@f-g", scheme: "secretsmanager", name: "a_b+c=d.e@f-g", stage: "AWSCURRENT"},
		{in: "secretsmanager://db#a%2Eb.c", scheme: "secretsmanager", name: "db", stage: "AWSCURRENT", key: "a%2Eb.c", path: []string{"a.b", "c"}},
		{in: "secretsmanager://db#%61", scheme: "secretsmanager", name: "db", stage: "AWSCURRENT", key: "a", path: []string{"a"}, canonical: "secretsmanager://db#a"},
		{in: "secretsmanager://db#hosts.0", scheme: "secretsmanager", name: "db", stage: "AWSCURRENT", key: "hosts.0", path: []string{"hosts", "0"}},
		{in: "ssm:///prod/db/password", scheme: "ssm", name: "/prod/db/password"},
		{in: "ssm://flat-name", scheme: "ssm", name: "flat-name"},
		{in: "ssm:///prod/db?version=3", scheme: "ssm", name: "/prod/db", version: 3},
		{in: "ssm:///prod/db?label=stable#user", scheme: "ssm", name: "/prod/db", label: "stable", key: "user", path: []string{"user"}},
		{in: "ssm://arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db", scheme: "ssm", name: "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db"},
		{in: "ssm:///p?decrypt=false", scheme: "ssm", name: "/p"},
		{in: "ssm:///p?decrypt=true", scheme: "ssm", name: "/p", canonical: "ssm:///p"},
		{in: "ssm:///p?decrypt=false&version=2", scheme: "ssm", name: "/p", version: 2, canonical: "ssm:///p?version=2&decrypt=false"},
		{in: "ssm:///p?label=x&decrypt=false#k", scheme: "ssm", name: "/p", label: "x", key: "k", path: []string{"k"}},
		{in: "env://DB_PASSWORD", scheme: "env", name: "DB_PASSWORD"},
		{in: "env://_X1#k", scheme: "env", name: "_X1", key: "k", path: []string{"k"}},
		{in: "file:///etc/app/db.json#password", scheme: "file", name: "/etc/app/db.json", key: "password", path: []string{"password"}},
		{in: "file://secrets/db.txt", scheme: "file", name: "secrets/db.txt"},
		{in: "file:///tmp/a%23b%3Fc%25d", scheme: "file", name: "/tmp/a#b?c%d"},
		{in: "file:///tmp/with%20space", scheme: "file", name: "/tmp/with space", canonical: "file:///tmp/with space"},
	} {
		r, err := ParseRef(tc.in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", tc.in, err)
			continue
		}
		if r.Scheme() != tc.scheme || r.Name() != tc.name || r.Stage() != tc.stage || r.VersionID() != tc.versionID ||
			r.Key() != tc.key || r.Version() != tc.version || r.Label() != tc.label {
			t.Errorf("ParseRef(%q) = %q %q stage %q id %q key %q version %d label %q", tc.in, r.Scheme(), r.Name(), r.Stage(), r.VersionID(), r.Key(), r.Version(), r.Label())
		}
		if !slices.Equal(r.KeyPath(), tc.path) {
			t.Errorf("ParseRef(%q).KeyPath() = %q, want %q", tc.in, r.KeyPath(), tc.path)
		}
		want := tc.canonical
		if want == "" {
			want = tc.in
		}
		if r.String() != want {
			t.Errorf("ParseRef(%q).String() = %q, want %q", tc.in, r.String(), want)
		}
		back, err := ParseRef(r.String())
		if err != nil || back != r {
			t.Errorf("round trip of %q: %v %v", tc.in, back, err)
		}
		if r.Source().Key() != "" || r.Source().Name() != r.Name() {
			t.Errorf("Source of %q keeps its key", tc.in)
		}
	}
	if MustParseRef("ssm:///p?decrypt=false").Decrypt() || !MustParseRef("ssm:///p").Decrypt() || MustParseRef("ssm:///p?decrypt=false") == MustParseRef("ssm:///p") {
		t.Error("decrypt=false")
	}
	if _, err := ParseRef("ssm:///p?decrypt=no"); err == nil {
		t.Error("decrypt=no accepted")
	}
	if MustParseRef("secretsmanager://db") != MustParseRef("secretsmanager://db?stage=AWSCURRENT") {
		t.Error("an explicit AWSCURRENT makes a different Ref")
	}
}

func TestParseRefErrors(t *testing.T) {
	for _, tc := range []struct{ in, part, says string }{
		{"", "scheme", "not a reference"},
		{"hunter2", "scheme", "not a reference"},
		{"env:DB", "scheme", "not a reference"},
		{"vault://x", "scheme", `unknown scheme "vault"`},
		{"SSM:///x", "scheme", "unknown scheme"},
		{"secretsmanager://", "name", "no secret name"},
		{"secretsmanager://a b", "name", "letters, digits"},
		{"secretsmanager://" + strings.Repeat("a", 513), "name", "512"},
		{"secretsmanager://arn:aws:kms:eu-west-1:1:key/x", "name", "not a secret ARN"},
		{"secretsmanager://db?stage=", "query", "empty value"},
		{"secretsmanager://db?", "query", "empty query"},
		{"secretsmanager://db?stage", "query", "NAME=VALUE"},
		{"secretsmanager://db?version-stage=AWSPREVIOUS", "query", `unknown parameter "version-stage"`},
		{"secretsmanager://db?stage=A&stage=B", "query", "twice"},
		{"secretsmanager://db?stage=AWSPREVIOUS&version-id=EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE", "query", "exclusive"},
		{"secretsmanager://db?stage=a%20b", "stage", "not a staging label"},
		{"secretsmanager://db?version-id=short", "version-id", "not a version id"},
		{"secretsmanager://db#", "key", "empty key"},
		{"secretsmanager://db#a..b", "key", "empty segment"},
		{"secretsmanager://db#a%zz", "key", "escape"},
		{"ssm://", "name", "no parameter name"},
		{"ssm:///", "name", "no parameter name"},
		{"ssm://prod/db", "name", "ssm:///prod/db"},
		{"ssm:///prod//db", "name", "empty path segment"},
		{"ssm:///prod/db/", "name", "empty path segment"},
		{"ssm:///a b", "name", "letters, digits"},
		{"ssm:///db?version=0", "version", "not a version number"},
		{"ssm:///db?version=-1", "version", "not a version number"},
		{"ssm:///db?version=+1", "version", "not a version number"},
		{"ssm:///db?version=x", "version", "not a version number"},
		{"ssm:///db?label=1abc", "label", "not a parameter label"},
		{"ssm:///db?version=1&label=a", "query", "exclusive"},
		{"ssm:///db?stage=AWSCURRENT", "query", `unknown parameter "stage"`},
		{"env://", "name", "no variable name"},
		{"env://1X", "name", "not a variable name"},
		{"env://A-B", "name", "not a variable name"},
		{"env://X?y=1", "query", "take no query"},
		{"file://", "name", "no path"},
		{"file:///a%zz", "name", "escape"},
		{"file:///a%00b", "name", "NUL"},
		{"file:///a?x=1", "query", "%3F"},
	} {
		_, err := ParseRef(tc.in)
		var re *RefError
		if !errors.As(err, &re) {
			t.Errorf("ParseRef(%q) = %v, want a *RefError", tc.in, err)
			continue
		}
		if re.Part != tc.part || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseRef(%q): part %q, error %q; want part %q saying %q", tc.in, re.Part, err, tc.part, tc.says)
		}
		if re.Part == "scheme" && !strings.Contains(tc.in, "://") && tc.in != "" && strings.Contains(err.Error(), tc.in) {
			t.Errorf("ParseRef(%q) repeats its input, which may be a secret: %v", tc.in, err)
		}
	}
}

// FuzzParseRef checks that parsing never panics, that a parsed reference's
// canonical form parses to the same Ref, and that input without a scheme
// is never repeated in the error.
func FuzzParseRef(f *testing.F) {
	seeds, err := filepath.Glob("testdata/fuzz/FuzzParseRef/*")
	if err != nil || len(seeds) == 0 {
		f.Fatal("the seed corpus testdata/fuzz/FuzzParseRef is empty")
	}
	for _, s := range []string{"secretsmanager://db?stage=AWSPREVIOUS#a.b", "ssm:///p?version=2", "env://X", "file:///a%23b#k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			var re *RefError
			if !errors.As(err, &re) || re.Part == "" {
				t.Fatalf("ParseRef(%q): %v is not a *RefError with a part", s, err)
			}
			if re.Ref == "" && err.Error() != noScheme(s).Error() {
				t.Fatalf("ParseRef(%q): %v; an error without the reference must be the fixed one", s, err)
			}
			if re.Ref == "" && noScheme(s).Error() != noScheme("other").Error() {
				t.Fatal("the error for input that is not a reference depends on the input")
			}
			return
		}
		back, err := ParseRef(r.String())
		if err != nil {
			t.Fatalf("ParseRef(%q).String() = %q does not parse: %v", s, r.String(), err)
		}
		if back != r {
			t.Fatalf("ParseRef(%q) = %#v, its String %q parses to %#v", s, r, r.String(), back)
		}
		if r.String() != back.String() {
			t.Fatalf("canonical form not stable: %q, %q", r.String(), back.String())
		}
	})
}

func TestSelect(t *testing.T) {
	doc := NewSecret(`{"user":"app","password":"p@ss","port":5432,"tls":true,"db":{"password":"inner","a.b":"dotted"},"hosts":["h1","h2"],"nil":null,"obj":{"x":[1,"<&>"]}}`, Metadata{VersionID: "v7"})
	for key, want := range map[string]string{
		"user": "app", "password": "p@ss", "port": "5432", "tls": "true", "db.password": "inner",
		"db.a%2Eb": "dotted", "hosts.1": "h2", "obj": `{"x":[1,"<&>"]}`, "hosts": `["h1","h2"]`,
	} {
		s, err := Select(doc, MustParseRef("env://X#"+key))
		if err != nil || s.Reveal() != want || s.VersionID() != "v7" {
			t.Errorf("#%s = %q %v", key, s.Reveal(), err)
		}
	}
	for key, says := range map[string]string{
		"missing": `no key "missing"`, "user.x": `"user" is a string, not an object`, "hosts.2": "2 elements",
		"hosts.x": "not an index", "hosts.01": "not an index", "nil": "null", "port.x": "a number",
	} {
		_, err := Select(doc, MustParseRef("env://X#"+key))
		if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), says) {
			t.Errorf("#%s: %v, want ErrKey saying %q", key, err, says)
		}
	}
	// Values that are not JSON objects: the error never quotes the value.
	for _, v := range []string{"hunter2", `{"a":"hunter2"`, `"hunter2"`, `{"a":1} hunter2`, `["hunter2"]`} {
		_, err := Select(NewSecret(v, Metadata{}), MustParseRef("env://X#a"))
		if !errors.Is(err, ErrKey) || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "'h'") {
			t.Errorf("value %q: %v", v, err)
		}
	}
	if s, err := Select(doc, MustParseRef("env://X")); err != nil || s != doc {
		t.Error("Select without a key changed the secret")
	}
}

func TestFuzzCorpusPresent(t *testing.T) {
	ents, err := os.ReadDir("testdata/fuzz/FuzzParseRef")
	if err != nil || len(ents) == 0 {
		t.Fatalf("the seed corpus of FuzzParseRef is empty: %v", err)
	}
}

package secrets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecretsManagerProvider(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	v1 := f.sm.Put("prod/db", `{"user":"app","password":"one"}`)
	v2 := f.sm.Put("prod/db", `{"user":"app","password":"two"}`)
	f.sm.PutBinary("bin", []byte{0, 1, 2, 0xff})
	pending := f.sm.PutPending("prod/db", `{"password":"three"}`)

	for ref, want := range map[string]string{
		"secretsmanager://prod/db#password":                                              "two",
		"secretsmanager://prod/db?stage=AWSCURRENT#password":                             "two",
		"secretsmanager://prod/db?stage=AWSPREVIOUS#password":                            "one",
		"secretsmanager://prod/db?stage=AWSPENDING#password":                             "three",
		"secretsmanager://prod/db?version-id=" + v1 + "#password":                        "one",
		"secretsmanager://" + f.sm.ARN("prod/db") + "#password":                          "two",
		"secretsmanager://" + f.sm.ARN("prod/db")[:len(f.sm.ARN("prod/db"))-7] + "#user": "app",
		"secretsmanager://bin":                                                           "\x00\x01\x02\xff",
	} {
		s, err := f.p.Get(ctx, MustParseRef(ref))
		if err != nil || s.Reveal() != want {
			t.Errorf("%s = %q, %v; want %q", ref, s.Reveal(), err, want)
		}
	}
	s, err := f.p.Get(ctx, MustParseRef("secretsmanager://prod/db"))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Metadata()
	if m.VersionID != v2 || m.Name != "prod/db" || m.ARN != f.sm.ARN("prod/db") || len(m.VersionStages) != 1 || m.VersionStages[0] != "AWSCURRENT" || m.Created.IsZero() {
		t.Errorf("metadata %+v", m)
	}
	if s, _ := f.p.Get(ctx, MustParseRef("secretsmanager://bin")); !s.Metadata().Binary {
		t.Error("binary secret not marked Binary")
	}
	_ = pending

	f.sm.Put("denied", "x")
	f.sm.Deny("denied")
	f.sm.Put("broken", "x")
	f.sm.FailDecryption("broken", true)
	f.sm.Put("deleted", "x")
	f.sm.Delete("deleted")
	for ref, kind := range map[string]error{
		"secretsmanager://missing":                                       ErrNotFound,
		"secretsmanager://prod/db?stage=NOPE":                            ErrNotFound,
		"secretsmanager://prod/db?version-id=" + strings.Repeat("0", 32): ErrNotFound,
		"secretsmanager://denied":                                        ErrAccessDenied,
		"secretsmanager://broken":                                        ErrDecryption,
		"secretsmanager://deleted":                                       ErrInvalid,
		"secretsmanager://prod/db#nope":                                  ErrKey,
	} {
		_, err := f.p.Get(ctx, MustParseRef(ref))
		var e *Error
		if !errors.Is(err, kind) || !errors.As(err, &e) || !strings.Contains(err.Error(), MustParseRef(ref).String()) {
			t.Errorf("%s: %v, want %v naming the reference", ref, err, kind)
		}
		if err != nil && (strings.Contains(err.Error(), "two") || strings.Contains(err.Error(), "three")) {
			t.Errorf("%s: error shows a value: %v", ref, err)
		}
	}
}

func TestSSMProvider(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.ssm.Put("/prod/db/password", "SecureString", "pw1")
	f.ssm.Put("/prod/db/password", "SecureString", "pw2")
	f.ssm.Put("/prod/db/password", "SecureString", "pw3")
	f.ssm.Label("/prod/db/password", 2, "stable")
	f.ssm.Put("flat", "String", `{"a":{"b":"c"}}`)
	f.ssm.Put("list", "StringList", "x,y")

	for ref, want := range map[string]string{
		"ssm:///prod/db/password":              "pw3",
		"ssm:///prod/db/password?version=1":    "pw1",
		"ssm:///prod/db/password?label=stable": "pw2",
		"ssm://flat#a.b":                       "c",
		"ssm://list":                           "x,y",
	} {
		s, err := f.p.Get(ctx, MustParseRef(ref))
		if err != nil || s.Reveal() != want {
			t.Errorf("%s = %q, %v; want %q", ref, s.Reveal(), err, want)
		}
	}
	s, _ := f.p.Get(ctx, MustParseRef("ssm:///prod/db/password"))
	if m := s.Metadata(); m.VersionID != "3" || m.Type != "SecureString" || m.Name != "/prod/db/password" || !strings.HasPrefix(m.ARN, "arn:aws:ssm:") {
		t.Errorf("metadata %+v", m)
	}

	f.ssm.Put("/denied", "String", "x")
	f.ssm.Deny("/denied")
	f.ssm.Put("/broken", "SecureString", "x")
	f.ssm.FailDecryption("/broken", true)
	for ref, kind := range map[string]error{
		"ssm:///missing":                        ErrNotFound,
		"ssm:///prod/db/password?version=9":     ErrNotFound,
		"ssm:///prod/db/password?label=missing": ErrNotFound,
		"ssm:///denied":                         ErrAccessDenied,
		"ssm:///broken":                         ErrDecryption,
	} {
		if _, err := f.p.Get(ctx, MustParseRef(ref)); !errors.Is(err, kind) || !strings.Contains(err.Error(), ref) {
			t.Errorf("%s: %v, want %v", ref, err, kind)
		}
	}
}

// TestThrottlingRetried checks that throttled calls are retried by the
// SDK's retryer, and that a storm longer than the attempts is ErrThrottled.
func TestThrottlingRetried(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sm.Put("db", "v")
	f.sm.Throttle(3)
	if s, err := f.p.Get(ctx, MustParseRef("secretsmanager://db")); err != nil || s.Reveal() != "v" {
		t.Fatalf("after 3 throttles: %v", err)
	}
	if n := f.sm.Calls("GetSecretValue"); n != 4 {
		t.Errorf("%d calls, want 4 (3 throttled, 1 answered)", n)
	}
	f.sm.ResetCalls()
	f.sm.Throttle(-1)
	_, err := f.p.Get(ctx, MustParseRef("secretsmanager://db"))
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("storm: %v, want ErrThrottled", err)
	}
	if n := f.sm.Calls("GetSecretValue"); n != 6 {
		t.Errorf("storm: %d calls, want 6 attempts", n)
	}

	f.ssm.Put("/p", "String", "v")
	f.ssm.Throttle(2)
	if _, err := f.p.Get(ctx, MustParseRef("ssm:///p")); err != nil || f.ssm.Calls("GetParameter") != 3 {
		t.Errorf("ssm after 2 throttles: %v, %d calls", err, f.ssm.Calls("GetParameter"))
	}
}

// TestDeadline checks that a context deadline ends a slow call.
func TestDeadline(t *testing.T) {
	f := newFixture(t)
	f.sm.Put("db", "v")
	f.sm.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.p.Get(ctx, MustParseRef("secretsmanager://db"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want DeadlineExceeded", err)
	}
}

func TestBatch(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.sm.Put("a", "1")
	f.sm.Put("b", "2")
	f.sm.Put("denied", "3")
	f.sm.Deny("denied")
	sm := f.p[SchemeSecretsManager].(BatchProvider)
	refs := []Ref{MustParseRef("secretsmanager://a"), MustParseRef("secretsmanager://" + f.sm.ARN("b")), MustParseRef("secretsmanager://missing"), MustParseRef("secretsmanager://denied")}
	got, errs, err := sm.FetchBatch(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Reveal() != "1" || got[1].Reveal() != "2" || !errors.Is(errs[2], ErrNotFound) || !errors.Is(errs[3], ErrAccessDenied) {
		t.Errorf("batch: %v %v %v", got[0].Reveal(), got[1].Reveal(), errs)
	}
	if f.sm.Calls("BatchGetSecretValue") != 1 {
		t.Errorf("%d batch calls", f.sm.Calls("BatchGetSecretValue"))
	}
	if sm.Batchable(MustParseRef("secretsmanager://a?stage=AWSPREVIOUS")) || !sm.Batchable(MustParseRef("secretsmanager://a#k")) {
		t.Error("Batchable")
	}

	f.ssm.Put("/x", "SecureString", "X1")
	f.ssm.Put("/x", "SecureString", "X2")
	f.ssm.Label("/x", 1, "old")
	p := f.p[SchemeSSM].(BatchProvider)
	refs = []Ref{MustParseRef("ssm:///x"), MustParseRef("ssm:///x?version=1"), MustParseRef("ssm:///x?label=old"), MustParseRef("ssm:///nope")}
	got, errs, err = p.FetchBatch(ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Reveal() != "X2" || got[1].Reveal() != "X1" || got[2].Reveal() != "X1" || !errors.Is(errs[3], ErrNotFound) {
		t.Errorf("ssm batch: %q %q %q %v", got[0].Reveal(), got[1].Reveal(), got[2].Reveal(), errs)
	}
}

func TestEnvAndFile(t *testing.T) {
	ctx := context.Background()
	env := Env{LookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"DB": `{"password":"pw"}`, "EMPTY": ""}[k]
		return v, ok
	}}
	p := Providers{SchemeEnv: env, SchemeFile: File{}}
	if s, err := p.Get(ctx, MustParseRef("env://DB#password")); err != nil || s.Reveal() != "pw" {
		t.Errorf("env: %q %v", s.Reveal(), err)
	}
	if s, err := p.Get(ctx, MustParseRef("env://EMPTY")); err != nil || s.Reveal() != "" || s.IsZero() {
		t.Errorf("empty variable: %v", err)
	}
	if _, err := p.Get(ctx, MustParseRef("env://UNSET")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unset variable: %v", err)
	}
	if _, err := (Providers{}).Get(ctx, MustParseRef("env://X")); !errors.Is(err, ErrNoProvider) {
		t.Errorf("no provider: %v", err)
	}
	if _, err := (Providers{}).Get(ctx, Ref{}); err == nil {
		t.Error("zero Ref fetched")
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "a#b.json")
	os.WriteFile(path, []byte(`{"k":"v"}`+"\n"), 0o600)
	ref := MustParseRef("file://" + escapePath(path) + "#k")
	if s, err := p.Get(ctx, ref); err != nil || s.Reveal() != "v" {
		t.Errorf("file: %q %v", s.Reveal(), err)
	}
	if s, err := p.Get(ctx, ref.Source()); err != nil || s.Reveal() != `{"k":"v"}`+"\n" {
		t.Errorf("whole file: %q %v", s.Reveal(), err)
	}
	if s, err := (File{Dir: dir}).Fetch(ctx, MustParseRef("file://a%23b.json")); err != nil || s.Len() != 10 {
		t.Errorf("relative file: %v", err)
	}
	if _, err := p.Get(ctx, MustParseRef("file:///nonexistent/x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := p.Get(ctx, MustParseRef("file://"+dir)); !errors.Is(err, ErrInvalid) {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 11), 0o600)
	if _, err := (File{MaxSize: 10}).Fetch(ctx, MustParseRef("file://"+big)); !errors.Is(err, ErrInvalid) {
		t.Errorf("large file: %v", err)
	}
	if _, err := (Env{}).Fetch(ctx, MustParseRef("file:///x")); !errors.Is(err, ErrNoProvider) {
		t.Errorf("wrong scheme: %v", err)
	}
}

// TestEndpointChecks checks that a plain http endpoint to another machine
// is refused, from the options and from AWS_ENDPOINT_URL_SECRETS_MANAGER.
func TestEndpointChecks(t *testing.T) {
	ctx := context.Background()
	p := NewProviders(AWSOptions{SecretsManagerEndpoint: "http://10.1.2.3", SSMEndpoint: "http://example.com"})
	if _, err := p.Get(ctx, MustParseRef("secretsmanager://x")); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("secretsmanager: %v", err)
	}
	if _, err := p.Get(ctx, MustParseRef("ssm:///x")); err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("ssm: %v", err)
	}
}

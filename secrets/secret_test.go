package secrets

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const plain = "hunter2-\u00e9-s3cr3t"

// leaks reports whether s shows the value or an encoding of it.
func leaks(s string) bool {
	for _, form := range []string{plain, fmt.Sprintf("%x", plain), fmt.Sprintf("% x", plain), fmt.Sprintf("%q", plain)[1:10], "hunter2", "68756e74657232"} {
		if strings.Contains(s, form) {
			return true
		}
	}
	return false
}

func TestSecretRedaction(t *testing.T) {
	s := NewSecret(plain, Metadata{Name: "db", VersionID: "v1"})
	type public struct{ Password Secret }
	type private struct{ password Secret }
	type nested struct {
		P  *Secret
		M  map[string]Secret
		L  []Secret
		A  any
		in private
	}
	values := map[string]any{
		"Secret":          s,
		"*Secret":         &s,
		"exported field":  public{s},
		"unexported":      private{s},
		"*unexported":     &private{s},
		"nested":          nested{P: &s, M: map[string]Secret{"k": s}, L: []Secret{s, s}, A: s, in: private{s}},
		"Secret as error": fmt.Errorf("wrapped: %v", s),
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d", "%10.3s", "%-20v", "%T %v", "%U", "%c", "%p"}
	for name, v := range values {
		for _, verb := range verbs {
			if out := fmt.Sprintf(verb, v); leaks(out) {
				t.Errorf("%s with %s leaks: %s", name, verb, out)
			}
		}
		if out := fmt.Sprint(v); leaks(out) {
			t.Errorf("Sprint(%s) leaks: %s", name, out)
		}
		if out := fmt.Sprintln(v, v); leaks(out) {
			t.Errorf("Sprintln(%s) leaks: %s", name, out)
		}
	}
	if s.String() != Redacted || !strings.Contains(s.GoString(), Redacted) {
		t.Errorf("String %q GoString %q", s.String(), s.GoString())
	}
	if got := fmt.Sprintf("%v|%s|%#v", s, s, s); got != "[REDACTED]|[REDACTED]|secrets.Secret([REDACTED])" {
		t.Errorf("got %s", got)
	}

	// Encoders.
	for name, v := range map[string]any{"Secret": s, "struct": public{s}, "map": map[string]Secret{"k": s}, "map key": map[Secret]int{s: 1}} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if leaks(string(b)) || !strings.Contains(string(b), Redacted) {
			t.Errorf("json %s: %s", name, b)
		}
	}
	if b, err := xml.Marshal(public{s}); err != nil || leaks(string(b)) {
		t.Errorf("xml: %s %v", b, err)
	}
	if _, err := s.GobEncode(); err == nil {
		t.Error("GobEncode succeeded")
	}

	// log/slog, text and JSON handlers, as an attribute, in a group and as
	// a message argument.
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("fetched", "secret", s, "ptr", &s, "struct", public{s}, "any", any(s))
		l.Info("grouped", slog.Group("g", slog.Any("s", s)), slog.Any("list", []Secret{s}))
		l.With("s", s).Info(fmt.Sprint(s))
	}
	if leaks(buf.String()) {
		t.Errorf("slog leaks: %s", buf.String())
	}
	if !strings.Contains(buf.String(), Redacted) {
		t.Errorf("slog output has no redaction marker: %s", buf.String())
	}

	// Errors built around a Secret.
	err := fmt.Errorf("using %v: %w", s, errors.New("boom"))
	if leaks(err.Error()) {
		t.Errorf("error leaks: %v", err)
	}

	// Only Reveal shows it.
	if s.Reveal() != plain {
		t.Fatal("Reveal does not return the value")
	}
}

func TestSecretZeroAndMetadata(t *testing.T) {
	var z Secret
	if !z.IsZero() || z.Reveal() != "" || z.Len() != 0 || z.VersionID() != "" || fmt.Sprint(z) != Redacted {
		t.Error("zero Secret misbehaves")
	}
	stages := []string{"AWSCURRENT"}
	s := NewSecret("v", Metadata{VersionID: "id", VersionStages: stages})
	stages[0] = "changed"
	m := s.Metadata()
	m.VersionStages[0] = "changed too"
	if got := s.Metadata().VersionStages[0]; got != "AWSCURRENT" {
		t.Errorf("metadata shared with the caller: %q", got)
	}
	if !s.Equal(NewSecret("v", Metadata{})) || s.Equal(NewSecret("w", Metadata{})) || s.Equal(z) {
		t.Error("Equal")
	}
}

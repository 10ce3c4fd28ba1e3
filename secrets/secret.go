package secrets

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Redacted is what a Secret prints in place of its value, through every
// formatting path: String, GoString, all fmt verbs, JSON and text
// marshalling, and log/slog.
const Redacted = "[REDACTED]"

// A Secret is a secret value with its version metadata. It never shows its
// value by accident: fmt (every verb, flags included), encoding/json,
// encoding.TextMarshaler users and log/slog all see [Redacted]. The value
// comes out only through [Secret.Reveal].
//
// The value sits behind two pointers, so that even a Secret in an
// unexported struct field, which fmt prints by reflection without calling
// its methods (and, for a bad verb, one level of pointer deep), shows as
// addresses and not as its contents.
//
// The zero Secret is empty and has no metadata. Secrets are immutable and
// safe to share between goroutines; copying one copies a pointer.
//
// Go strings cannot be wiped from memory: a Secret protects against
// printing and logging, not against someone who can read the process's
// memory.
type Secret struct {
	v *secretValue
}

type secretValue struct {
	plain *string
	meta  Metadata
}

// Metadata describes a secret's version. None of it is secret.
type Metadata struct {
	// Name is the secret's or parameter's name, as the service returned it.
	Name string
	// ARN is the secret's or parameter's ARN, if it has one.
	ARN string
	// VersionID is the Secrets Manager version id, or the SSM parameter
	// version number in decimal; empty for environment variables and files.
	VersionID string
	// VersionStages are the Secrets Manager staging labels of the version
	// (AWSCURRENT, AWSPREVIOUS, ...), or the SSM parameter's selector.
	VersionStages []string
	// Created is when the version was created, or the file's modification
	// time; zero if unknown.
	Created time.Time
	// Binary is set for a Secrets Manager secret stored as SecretBinary.
	Binary bool
	// Type is the SSM parameter type (String, StringList, SecureString).
	Type string
}

// NewSecret returns a Secret holding value, with metadata m.
func NewSecret(value string, m Metadata) Secret {
	m.VersionStages = slices.Clone(m.VersionStages)
	return Secret{&secretValue{plain: &value, meta: m}}
}

// Reveal returns the secret value. It is the only way to read it: search
// for Reveal to audit where values leave this type.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v.plain
}

// IsZero reports whether s is the zero Secret.
func (s Secret) IsZero() bool { return s.v == nil }

// Len returns the value's length in bytes.
func (s Secret) Len() int { return len(s.Reveal()) }

// Metadata returns the secret's version metadata (a copy).
func (s Secret) Metadata() Metadata {
	if s.v == nil {
		return Metadata{}
	}
	m := s.v.meta
	m.VersionStages = slices.Clone(m.VersionStages)
	return m
}

// VersionID returns Metadata().VersionID without copying the metadata.
func (s Secret) VersionID() string {
	if s.v == nil {
		return ""
	}
	return s.v.meta.VersionID
}

// Equal reports whether s and t hold the same value, in time that depends
// only on the lengths of the values. Metadata is not compared.
func (s Secret) Equal(t Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(t.Reveal())) == 1
}

// Same reports whether s and t are copies of one Secret (one fetch of one
// version), without comparing values: a cheap test of whether a secret
// from a [Cache] has changed since it was last seen.
func (s Secret) Same(t Secret) bool { return s.v == t.v }

// String returns [Redacted].
func (s Secret) String() string { return Redacted }

// GoString returns a redacted Go syntax form, for %#v.
func (s Secret) GoString() string { return "secrets.Secret(" + Redacted + ")" }

// Format prints [Redacted] for every verb, so that no flag or verb
// (%x, %q, %+v, %#v, %s, %d...) can reach the value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, Redacted)
}

// MarshalJSON returns the JSON string "[REDACTED]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns [Redacted], for encoders that use
// encoding.TextMarshaler (XML, YAML, map keys, ...).
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer: loggers see [Redacted].
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// GobEncode refuses: a Secret is not serialized by accident.
func (s Secret) GobEncode() ([]byte, error) {
	return nil, fmt.Errorf("secrets: a Secret cannot be gob-encoded; encode Reveal() explicitly")
}

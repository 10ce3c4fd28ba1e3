package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/mlseal/mlseal/envelope"
)

// ErrSettings marks a rerun refused because its manifest records a job
// run with other settings (operation, keys, encryption context, suite,
// frame length): the outputs it would skip were made under the old ones.
var ErrSettings = errors.New("the manifest records other settings")

// A Configured operation says which of its settings its outputs depend
// on, besides the inputs. A job with a manifest records them, and a rerun
// with other settings is refused unless Overwrite is set (which redoes the
// items). Values must never hold key material or secret values.
type Configured interface {
	Operation
	Settings() map[string]string
}

// Settings are what an encrypted output depends on: the wrapping keys'
// names, the encryption context (its keys, and a digest, not its values),
// the suite, the frame length and the suffix.
func (e *Encrypt) Settings() map[string]string {
	o := e.Options
	s := map[string]string{
		"keys":   strings.Join(e.Keys, ", "),
		"suffix": suffixOr(e.Suffix),
	}
	if o.Suite != 0 {
		s["suite"] = o.Suite.String()
	} else {
		s["suite"] = envelope.DefaultSuite.String()
	}
	if o.FrameLength != 0 {
		s["frame_length"] = strconv.Itoa(o.FrameLength)
	}
	if len(o.Context) > 0 {
		s["context"] = contextDigest(o.Context)
	}
	if len(o.RequiredContextKeys) > 0 {
		s["required_context_keys"] = strings.Join(slices.Sorted(slices.Values(o.RequiredContextKeys)), ",")
	}
	return s
}

// Settings are what a tokenized output depends on besides the keyset: a
// digest of the policy (which holds no secret), and the format when one
// is set for every item.
func (t *Tokenize) Settings() map[string]string {
	s := map[string]string{}
	if t.Options.Format != "" {
		s["format"] = string(t.Options.Format)
	}
	if t.Tokenizer != nil {
		if b, err := t.Tokenizer.Policy().Marshal(); err == nil {
			sum := sha256.Sum256(b)
			s["policy"] = "sha256:" + hex.EncodeToString(sum[:8])
		}
	}
	return s
}

// Settings are what a rewrapped output depends on: the new keys' names,
// whether it is written in place, and the suite of a re-encryption.
func (rw *Rewrap) Settings() map[string]string {
	s := map[string]string{"keys": strings.Join(rw.Keys, ", "), "in_place": strconv.FormatBool(rw.InPlace)}
	if rw.Reencrypt != nil {
		s["reencrypt"] = "true"
		if rw.Reencrypt.Suite != 0 {
			s["suite"] = rw.Reencrypt.Suite.String()
		}
	}
	return s
}

// contextDigest names an encryption context's keys and digests its pairs,
// so that a manifest tells contexts apart without holding their values.
func contextDigest(c map[string]string) string {
	keys := slices.Sorted(maps.Keys(c))
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(c[k]), c[k])
	}
	return "keys " + strings.Join(keys, ",") + " sha256:" + hex.EncodeToString(h.Sum(nil)[:8])
}

// settings returns what the job's manifest records of it.
func (j *Job) settings() map[string]string {
	s := map[string]string{}
	if c, ok := j.opts.Operation.(Configured); ok {
		maps.Copy(s, c.Settings())
	}
	s["op"] = j.opts.Operation.Name()
	return s
}

// settingsError says how a rerun's settings differ from its manifest's.
type settingsError struct {
	manifest string
	diffs    []string
}

func (e *settingsError) Error() string {
	return fmt.Sprintf("the manifest %s records a job run with other settings (%s): its outputs were made under those; "+
		"use a new manifest for this job, or overwrite (--force) to redo the items with these settings",
		e.manifest, strings.Join(e.diffs, "; "))
}

func (e *settingsError) Is(target error) bool { return target == ErrSettings }

// diffSettings lists how now differs from was, by name.
func diffSettings(was, now map[string]string) []string {
	var d []string
	for _, k := range slices.Sorted(maps.Keys(mergeKeys(was, now))) {
		if was[k] != now[k] {
			d = append(d, fmt.Sprintf("%s: %s, now %s", k, orNone(was[k]), orNone(now[k])))
		}
	}
	return d
}

func mergeKeys(a, b map[string]string) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return strconv.Quote(s)
}

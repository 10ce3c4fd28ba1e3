package interop_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// jsPeer is the AWS Encryption SDK for JavaScript (@aws-crypto/client-node)
// run by js/esdk.mjs, one node process per batch.
type jsPeer struct {
	node   string
	script string
}

// needJSPeer returns the JavaScript peer, or skips the test when node or
// the SDK is not installed; under CI (CI=true) it fails the test instead.
func needJSPeer(t *testing.T) *jsPeer {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("js", "esdk.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var missing string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node is not on PATH: install node 18 or later and npm (Debian: apt-get install nodejs npm), then run bench/interop/setup.sh"
	} else if _, err := os.Stat(filepath.Join("js", "node_modules", "@aws-crypto", "client-node", "package.json")); err != nil {
		missing = "the AWS Encryption SDK for JavaScript is not installed: run bench/interop/setup.sh (npm ci in bench/interop/js)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("JavaScript peer: %s", missing)
		}
		t.Skipf("SKIP JavaScript peer: %s", missing)
	}
	return &jsPeer{node: node, script: script}
}

func (p *jsPeer) Name() string { return "js" }

func (p *jsPeer) Supports(k wrapKey, decrypt bool) bool {
	// Node refuses RSA PKCS#1 v1.5 decryption with a private key since the
	// fix for CVE-2023-46809 (the Marvin attack); encryption still works.
	return !(decrypt && k.Padding == "pkcs1")
}

type jsKey struct {
	Type        string `json:"type"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	Key         string `json:"key,omitempty"`
	UTF8Sorting *bool  `json:"utf8Sorting,omitempty"`
	PublicPEM   string `json:"publicPem,omitempty"`
	PrivatePEM  string `json:"privatePem,omitempty"`
	Padding     string `json:"padding,omitempty"`
}

type jsCase struct {
	ID               string            `json:"id"`
	Mode             string            `json:"mode"`
	In               string            `json:"in"`
	Out              string            `json:"out"`
	Keys             []jsKey           `json:"keys"`
	Suite            uint16            `json:"suite,omitempty"`
	FrameLength      int               `json:"frameLength,omitempty"`
	Context          map[string]string `json:"context,omitempty"`
	CommitmentPolicy string            `json:"commitmentPolicy,omitempty"`
}

type jsResult struct {
	ID          string            `json:"id"`
	OK          bool              `json:"ok"`
	Error       string            `json:"error"`
	Suite       uint16            `json:"suite"`
	FrameLength int               `json:"frameLength"`
	Context     map[string]string `json:"context"`
	Bytes       int               `json:"bytes"`
}

func jsKeys(keys []wrapKey, localeSort bool) []jsKey {
	var out []jsKey
	for _, k := range keys {
		j := jsKey{Type: k.Kind, Namespace: k.Namespace, Name: k.Name}
		switch k.Kind {
		case "aes":
			j.Key = base64.StdEncoding.EncodeToString(k.AES)
			utf8Sorting := !localeSort
			j.UTF8Sorting = &utf8Sorting
		case "rsa":
			j.PublicPEM, j.PrivatePEM, j.Padding = k.publicPEM(), k.privatePEM(), k.Padding
		}
		out = append(out, j)
	}
	return out
}

func (p *jsPeer) Run(t *testing.T, encs []*encJob, decs []*decJob) {
	t.Helper()
	dir := t.TempDir()
	var cases []jsCase
	file := func(i int, what string) string { return filepath.Join(dir, fmt.Sprintf("%04d.%s", i, what)) }
	for _, j := range encs {
		i := len(cases)
		if j.RequiredKeys != nil {
			t.Fatalf("%s: the JavaScript peer has no required encryption context CMM", j.Name)
		}
		if err := os.WriteFile(file(i, "pt"), j.Plaintext, 0o600); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, jsCase{
			ID: j.Name, Mode: "encrypt", In: file(i, "pt"), Out: file(i, "ct"),
			Keys: jsKeys(j.Keys, j.LocaleSort), Suite: j.Suite, FrameLength: j.FrameLength,
			Context: j.Context, CommitmentPolicy: j.Policy,
		})
	}
	for _, j := range decs {
		i := len(cases)
		if j.RequiredKeys != nil || j.Context != nil {
			t.Fatalf("%s: the JavaScript peer takes no encryption context on decrypt", j.Name)
		}
		if err := os.WriteFile(file(i, "ct"), j.Ciphertext, 0o600); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, jsCase{
			ID: j.Name, Mode: "decrypt", In: file(i, "ct"), Out: file(i, "pt"),
			Keys: jsKeys(j.Keys, j.LocaleSort), CommitmentPolicy: j.Policy,
		})
	}
	if len(cases) == 0 {
		return
	}
	manifest, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	mpath := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(mpath, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.node, p.script, mpath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", p.script, err, stderr.Bytes())
	}
	t.Logf("node ran %d cases in %v", len(cases), time.Since(start).Round(time.Millisecond))
	var out struct{ Results []jsResult }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("node %s: output: %v\n%.2000s\n%s", p.script, err, stdout.Bytes(), stderr.Bytes())
	}
	if len(out.Results) != len(cases) {
		t.Fatalf("node %s: %d results for %d cases", p.script, len(out.Results), len(cases))
	}
	result := func(i int) ([]byte, error) {
		r := out.Results[i]
		if r.ID != cases[i].ID {
			return nil, fmt.Errorf("result %d is for %q, want %q", i, r.ID, cases[i].ID)
		}
		if !r.OK {
			return nil, errors.New(r.Error)
		}
		b, err := os.ReadFile(cases[i].Out)
		if err == nil && len(b) != r.Bytes {
			err = fmt.Errorf("%s has %d bytes, node wrote %d", cases[i].Out, len(b), r.Bytes)
		}
		return b, err
	}
	for i, j := range encs {
		j.Ciphertext, j.Err = result(i)
		if j.Err != nil {
			j.Err = fmt.Errorf("JS ESDK encrypt: %w", j.Err)
		}
	}
	for n, j := range decs {
		i := len(encs) + n
		j.Plaintext, j.Err = result(i)
		if j.Err != nil {
			j.Err = fmt.Errorf("JS ESDK decrypt: %w", j.Err)
			continue
		}
		r := out.Results[i]
		j.Suite, j.FrameLength, j.PeerContext = r.Suite, r.FrameLength, r.Context
	}
}

package beam

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/tokenize"
)

func testPolicyParsed(t *testing.T) *tokenize.Policy {
	t.Helper()
	p, err := tokenize.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func metadataPath(m fileio.FileMetadata) string { return m.Path }

func init() { register.Function1x1(metadataPath) }

// matchPaths lists the files matching glob, as TokenizeFiles's input.
func matchPaths(s beam.Scope, glob string) beam.PCollection {
	return beam.ParDo(s, metadataPath, fileio.MatchFiles(s, glob))
}

// TestTokenizeFilesMatchesCLI tokenizes 100,000 records in CSV (with
// records spanning lines) and JSON Lines files through Beam, and compares
// every output with 'mlseal tokenize' of the same file; then detokenizes
// the outputs through Beam back to what the CLI's detokenize gives.
func TestTokenizeFilesMatchesCLI(t *testing.T) {
	dir := t.TempDir()
	keyFile, keyset, policyFile := tokenSetup(t, dir)
	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	const files, perFile = 8, 12500 // 100,000 records
	var names []string
	for i := range files {
		ext := "csv"
		if i%2 == 1 {
			ext = "jsonl"
		}
		name := fmt.Sprintf("part-%d.%s", i, ext)
		writeRecords(t, filepath.Join(in, name), perFile, uint64(i))
		names = append(names, name)
	}

	out, back := filepath.Join(dir, "out"), filepath.Join(dir, "back")
	opts := FileOptions{
		Policy: testPolicyParsed(t),
		Keys:   TokenKeys{Keyset: keyset, Keys: Keys{Refs: []string{keyFile}}},
		Files:  Files{Output: out},
	}
	p, s := beam.NewPipelineWithRoot()
	writeResults(s, TokenizeFiles(s, matchPaths(s, filepath.Join(in, "*")), opts), filepath.Join(dir, "results.jsonl"))
	runPipeline(t, p)

	rs := readResults(t, filepath.Join(dir, "results.jsonl"))
	if len(rs) != files {
		t.Fatalf("%d results, want %d: %v", len(rs), files, rs)
	}
	var records int64
	for _, r := range rs {
		if r.Status != dataset.StatusDone || r.Op != "tokenize" || r.OutputSize == 0 {
			t.Errorf("result %v", r)
		}
		records += r.Records
	}
	if records != files*perFile {
		t.Errorf("results count %d records, want %d", records, files*perFile)
	}
	cliOut := filepath.Join(dir, "cli")
	os.MkdirAll(cliOut, 0o755)
	for _, name := range names {
		want := filepath.Join(cliOut, name)
		run(t, "tokenize", "--policy", policyFile, "--keyset", keyset, "-k", keyFile, "-o", want, filepath.Join(in, name))
		sameFile(t, filepath.Join(out, name), want)
	}

	opts.Files.Output = back
	p, s = beam.NewPipelineWithRoot()
	writeResults(s, DetokenizeFiles(s, matchPaths(s, filepath.Join(out, "*")), opts), filepath.Join(dir, "back.jsonl"))
	runPipeline(t, p)
	for _, name := range names {
		want := filepath.Join(cliOut, name+".back")
		run(t, "detokenize", "--policy", policyFile, "--keyset", keyset, "-k", keyFile, "-o", want, filepath.Join(out, name))
		sameFile(t, filepath.Join(back, name), want)
	}
	// The name and ssn fields are reversible: they came back.
	orig, _ := os.ReadFile(filepath.Join(in, names[1]))
	got, _ := os.ReadFile(filepath.Join(back, names[1]))
	first := func(b []byte) map[string]any {
		var m map[string]any
		json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &m)
		return m
	}
	if o, g := first(orig), first(got); o["name"] != g["name"] || o["ssn"] != g["ssn"] {
		t.Errorf("detokenized %v, want the name and ssn of %v", g, o)
	}
}

// TestTokenizeFilesFailedItem: an item that cannot be tokenized (a
// malformed record) comes out as a failed Result, leaves no output, and
// does not stop the others; an existing output is not replaced.
func TestTokenizeFilesFailedItem(t *testing.T) {
	dir := t.TempDir()
	keyFile, keyset, _ := tokenSetup(t, dir)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	os.MkdirAll(in, 0o755)
	os.MkdirAll(out, 0o755)
	writeRecords(t, filepath.Join(in, "good.jsonl"), 100, 1)
	os.WriteFile(filepath.Join(in, "bad.jsonl"), []byte(`{"name": "Ann"}`+"\n"+`{"name": `+"\n"), 0o644)
	writeRecords(t, filepath.Join(in, "taken.csv"), 10, 2)
	os.WriteFile(filepath.Join(out, "taken.csv"), []byte("not mine\n"), 0o644)

	p, s := beam.NewPipelineWithRoot()
	res := TokenizeFiles(s, matchPaths(s, filepath.Join(in, "*")), FileOptions{
		Policy: testPolicyParsed(t),
		Keys:   TokenKeys{Keyset: keyset, Keys: Keys{Refs: []string{keyFile}}},
		Files:  Files{Output: out},
	})
	writeResults(s, res, filepath.Join(dir, "results.jsonl"))
	runPipeline(t, p)

	rs := readResults(t, filepath.Join(dir, "results.jsonl"))
	status := map[string]dataset.Result{}
	for _, r := range rs {
		status[filepath.Base(r.Input)] = r
	}
	if r := status["good.jsonl"]; r.Status != dataset.StatusDone || r.Records != 100 {
		t.Errorf("good.jsonl: %v", r)
	}
	if r := status["bad.jsonl"]; r.Status != dataset.StatusFailed || !strings.Contains(r.Error, "record 2") {
		t.Errorf("bad.jsonl: %+v", r)
	}
	if r := status["taken.csv"]; r.Status != dataset.StatusFailed || !strings.Contains(r.Error, "exists") {
		t.Errorf("taken.csv: %+v", r)
	}
	entries, _ := os.ReadDir(out)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != "good.jsonl taken.csv" {
		t.Errorf("output directory holds %v, want only good.jsonl and the existing taken.csv", left)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "taken.csv")); string(b) != "not mine\n" {
		t.Errorf("an existing output was replaced: %q", b)
	}
}

// TestTokenizeLines tokenizes records held as strings: the same tokens as
// the file transform, and a malformed record set aside.
func TestTokenizeLines(t *testing.T) {
	dir := t.TempDir()
	keyFile, keyset, policyFile := tokenSetup(t, dir)
	src := filepath.Join(dir, "in.jsonl")
	writeRecords(t, src, 1000, 7)
	want := run(t, "tokenize", "--policy", policyFile, "--keyset", keyset, "-k", keyFile, src)

	p, s := beam.NewPipelineWithRoot()
	lines := textio.Read(s, src)
	lines = beam.Flatten(s, lines, beam.Create(s, `{"name": "unterminated`))
	tok, rej := TokenizeLines(s, lines, LinesOptions{
		Policy: testPolicyParsed(t),
		Keys:   TokenKeys{Keyset: keyset, Keys: Keys{Refs: []string{keyFile}}},
	})
	textio.Write(s, filepath.Join(dir, "tok.jsonl"), tok)
	textio.Write(s, filepath.Join(dir, "rej.jsonl"), beam.ParDo(s, rejectedLine, rej))
	runPipeline(t, p)

	got, _ := os.ReadFile(filepath.Join(dir, "tok.jsonl"))
	if g, w := sortedLines(string(got)), sortedLines(want); g != w {
		t.Errorf("TokenizeLines gave %d bytes, the CLI %d; they differ", len(g), len(w))
	}
	rejected, _ := os.ReadFile(filepath.Join(dir, "rej.jsonl"))
	if !strings.HasPrefix(string(rejected), `{"name": "unterminated`+"\t") || strings.Count(string(rejected), "\n") != 1 {
		t.Errorf("rejected: %q", rejected)
	}
}

func rejectedLine(r Rejected) string { return r.Line + "\t" + r.Error }

func init() { register.Function1x1(rejectedLine) }

func sortedLines(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

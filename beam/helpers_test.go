package beam

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"

	"github.com/mlseal/mlseal/dataset"
)

func TestMain(m *testing.M) { ptest.Main(m) }

var cli struct {
	once sync.Once
	path string
	err  error
}

// mlsealCLI builds the mlseal command of this checkout once per test run:
// the tests compare the transforms with the real command.
func mlsealCLI(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		dir, err := os.MkdirTemp("", "mlseal-beam-cli-")
		if err != nil {
			cli.err = err
			return
		}
		cli.path = filepath.Join(dir, "mlseal")
		cmd := exec.Command("go", "build", "-o", cli.path, "./cmd/mlseal")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			cli.err = fmt.Errorf("building mlseal: %v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
}

// run runs the mlseal command and returns its stdout, failing t on error.
func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runErr(t, args...)
	if err != nil {
		t.Fatalf("mlseal %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func runErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(mlsealCLI(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// tokenSetup makes a key file, a token keyset wrapped by it and a policy
// file holding testPolicy, with the mlseal command.
func tokenSetup(t *testing.T, dir string) (keyFile, keyset, policy string) {
	t.Helper()
	keyFile = filepath.Join(dir, "team.key")
	keyset = filepath.Join(dir, "customers.keyset")
	policy = filepath.Join(dir, "policy.json")
	run(t, "keygen", "-o", keyFile)
	run(t, "tokenize", "keygen", "-k", keyFile, "-o", keyset)
	if err := os.WriteFile(policy, []byte(testPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	return keyFile, keyset, policy
}

const testPolicy = `{
  "version": 1,
  "fields": [
    {"name": "name", "op": "deterministic", "domain": "person-name"},
    {"name": "email", "op": "hash", "length": 16},
    {"name": "ssn", "op": "fpe", "alphabet": "digits", "separators": "-"},
    {"name": "card", "op": "mask"},
    {"name": "birth_date", "op": "date-shift", "entity": "customer_id", "window_days": 90}
  ]
}`

// writeRecords writes n customer records to path as CSV (with quoted
// fields that span lines) or JSON Lines, from a fixed seed.
func writeRecords(t *testing.T, path string, n int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	csv := strings.HasSuffix(path, ".csv")
	if csv {
		w.WriteString("customer_id,name,email,ssn,card,birth_date,notes\n")
	}
	for i := range n {
		id := fmt.Sprintf("c%d-%d", seed, i)
		name := fmt.Sprintf("Person %d", rng.IntN(50000))
		email := fmt.Sprintf("p%d@example.com", rng.IntN(1e6))
		ssn := fmt.Sprintf("%03d-%02d-%04d", rng.IntN(1000), rng.IntN(100), rng.IntN(10000))
		card := fmt.Sprintf("4111 %04d %04d %04d", rng.IntN(1e4), rng.IntN(1e4), rng.IntN(1e4))
		birth := fmt.Sprintf("19%02d-%02d-%02d", 40+rng.IntN(60), 1+rng.IntN(12), 1+rng.IntN(28))
		notes := fmt.Sprintf("line one %d\nline two, with a comma", i)
		if csv {
			fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%q\n", id, name, email, ssn, card, birth, notes)
			continue
		}
		b, _ := json.Marshal(map[string]any{"customer_id": id, "name": name, "email": email, "ssn": ssn,
			"card": card, "birth_date": birth, "notes": notes, "n": i})
		w.Write(append(b, '\n'))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeResults adds a step that writes the results as JSON lines to one
// file, for readResults.
func writeResults(s beam.Scope, results beam.PCollection, path string) {
	textio.Write(s, path, ResultsJSON(s, results))
}

// readResults reads what writeResults wrote, sorted by input.
func readResults(t *testing.T, path string) []dataset.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rs []dataset.Result
	for line := range strings.Lines(string(data)) {
		var r dataset.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("result %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b dataset.Result) int { return strings.Compare(a.Input, b.Input) })
	return rs
}

func runPipeline(t *testing.T, p *beam.Pipeline) {
	t.Helper()
	if err := runPipelineErr(p); err != nil {
		t.Fatalf("pipeline failed: %v", err)
	}
}

func runPipelineErr(p *beam.Pipeline) error { return ptest.Run(p) }

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Errorf("%s (%d bytes) and %s (%d bytes) differ", a, len(da), b, len(db))
	}
}

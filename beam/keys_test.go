package beam

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"google.golang.org/protobuf/proto"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope/keyfile"
	"github.com/mlseal/mlseal/internal/testserver/awssecrets"
	"github.com/mlseal/mlseal/tokenize"
)

// pipelineBytes returns what a runner is given for p: the marshalled
// pipeline and, decoded, each DoFn's payload (base64 of a proto that holds
// the DoFn's exported fields as JSON), which a plain search of the
// pipeline's bytes would not see into.
func pipelineBytes(t *testing.T, p *beam.Pipeline) []byte {
	t.Helper()
	edges, _, err := p.Build()
	if err != nil {
		t.Fatal(err)
	}
	pb, err := graphx.Marshal(edges, &graphx.Options{Environment: &pipepb.Environment{Urn: "beam:env:docker:v1"}})
	if err != nil {
		t.Fatal(err)
	}
	all, err := proto.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range pb.GetComponents().GetTransforms() {
		if tr.GetSpec().GetUrn() != graphx.URNParDo {
			continue
		}
		var pd pipepb.ParDoPayload
		if err := proto.Unmarshal(tr.GetSpec().GetPayload(), &pd); err != nil {
			t.Fatal(err)
		}
		fn, err := base64.StdEncoding.DecodeString(string(pd.GetDoFn().GetPayload()))
		if err != nil {
			t.Fatalf("DoFn payload of %s: %v", tr.GetUniqueName(), err)
		}
		all = append(all, fn...)
	}
	return all
}

// testKey writes a new raw AES key file and returns its path, its JSON
// and its material.
func testKey(t *testing.T, dir string) (path string, fileJSON []byte, material []byte) {
	t.Helper()
	f, err := keyfile.Generate(keyfile.GenerateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "team.key")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteNew(path); err != nil {
		t.Fatal(err)
	}
	fileJSON, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j struct{ Material []byte }
	if err := json.Unmarshal(fileJSON, &j); err != nil || len(j.Material) != 32 {
		t.Fatalf("key file %s: %v", fileJSON, err)
	}
	return path, fileJSON, j.Material
}

// writeKeyset writes a token keyset wrapped by the key file at keyPath.
func writeKeyset(t *testing.T, keyPath, out string) {
	t.Helper()
	kf, err := keyfile.Load(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := kf.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	ks, err := tokenize.NewKeyset()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := ks.Write(context.Background(), &buf, kr); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineHoldsNoKeyMaterial builds pipelines whose keys are a key
// file, a KMS key and a key held in Secrets Manager, and checks that what a
// runner is given names those keys but holds none of their material, nor
// the secret's value.
func TestPipelineHoldsNoKeyMaterial(t *testing.T) {
	dir := t.TempDir()
	keyPath, secretValue, material := testKey(t, dir)
	keyset := filepath.Join(dir, "tokens.keyset")
	writeKeyset(t, keyPath, keyset)
	const kmsARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	const secretRef = "secretsmanager://ml/team-key"
	keys := Keys{Refs: []string{keyPath, "kms:" + kmsARN, secretRef}}
	policy, err := tokenize.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}

	p, s := beam.NewPipelineWithRoot()
	names := beam.Create(s, filepath.Join(dir, "in.csv"))
	TokenizeFiles(s, names, FileOptions{Policy: policy, Keys: TokenKeys{Keyset: keyset, Keys: keys}, Files: Files{Output: dir}})
	TokenizeLines(s, beam.Create(s, `{"name": "Ann"}`), LinesOptions{Policy: policy, Keys: TokenKeys{Keyset: keyset, Keys: keys}})
	EncryptFiles(s, names, EncryptOptions{Files: Files{Output: dir}, Keys: keys})
	RewrapFiles(s, names, RewrapOptions{Files: Files{Output: dir}, OldKeys: Keys{Refs: []string{"kms:" + kmsARN}}, NewKeys: keys})
	graph := pipelineBytes(t, p)

	// The references are there: the search sees the DoFns' fields.
	for _, ref := range []string{keyPath, kmsARN, secretRef, keyset, "person-name"} {
		if !bytes.Contains(graph, []byte(ref)) {
			t.Errorf("the pipeline does not name %s: the search cannot see the DoFns' fields", ref)
		}
	}
	keysetData, _ := os.ReadFile(keyset)
	for what, secret := range map[string][]byte{
		"the key's material":            material,
		"the key's material in base64":  []byte(base64.StdEncoding.EncodeToString(material)),
		"the key file (a secret value)": bytes.TrimSpace(secretValue),
		"the wrapped keyset":            keysetData,
	} {
		if bytes.Contains(graph, secret) {
			t.Errorf("the pipeline holds %s", what)
		}
	}
}

// TestKeysFromSecretsManager: workers load a key held in Secrets Manager
// by its reference, once per worker however many files they process.
func TestKeysFromSecretsManager(t *testing.T) {
	sm := awssecrets.NewSecretsManager(t)
	for _, kv := range awssecrets.Environ(nil, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+sm.URL) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	keyPath, keyJSON, _ := testKey(t, dir)
	keyset := filepath.Join(dir, "tokens.keyset")
	writeKeyset(t, keyPath, keyset)
	sm.Put("ml/team-key", string(keyJSON))
	os.Remove(keyPath) // only the secret holds the key now

	in := filepath.Join(dir, "in")
	os.MkdirAll(in, 0o755)
	const files = 6
	for i := range files {
		writeRecords(t, filepath.Join(in, "part-"+string(rune('a'+i))+".jsonl"), 50, uint64(i))
	}
	p, s := beam.NewPipelineWithRoot()
	res := TokenizeFiles(s, matchPaths(s, filepath.Join(in, "*")), FileOptions{
		Policy: testPolicyParsed(t),
		Keys:   TokenKeys{Keyset: keyset, Keys: Keys{Refs: []string{"secretsmanager://ml/team-key"}}},
		Files:  Files{Output: filepath.Join(dir, "out")},
	})
	writeResults(s, res, filepath.Join(dir, "results.jsonl"))
	runPipeline(t, p)

	rs := readResults(t, filepath.Join(dir, "results.jsonl"))
	done := 0
	for _, r := range rs {
		if r.Status == dataset.StatusDone {
			done++
		} else {
			t.Errorf("%v", r)
		}
	}
	if done != files {
		t.Errorf("%d of %d files tokenized", done, files)
	}
	// Prism runs one worker, in this process.
	if n := sm.Calls("GetSecretValue"); n != 1 {
		t.Errorf("%d GetSecretValue calls for %d files on one worker, want 1", n, files)
	}
}

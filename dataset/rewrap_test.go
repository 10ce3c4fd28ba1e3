package dataset_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mlseal/mlseal/dataset"
	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/cache"
	"github.com/mlseal/mlseal/envelope/keyring/multi"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
	"github.com/mlseal/mlseal/internal/testserver/minio"
	"github.com/mlseal/mlseal/s3io"
)

func namedKeyring(t testing.TB, name string) envelope.Keyring {
	t.Helper()
	kr, err := rawaes.New("dataset-test", name, bytes.Repeat([]byte{byte(len(name))}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func rewrapOp(t testing.TB, oldKR envelope.Keyring, newKRs ...envelope.Keyring) *dataset.Rewrap {
	t.Helper()
	kr, err := multi.New(nil, newKRs...)
	if err != nil {
		t.Fatal(err)
	}
	return &dataset.Rewrap{Options: envelope.RewrapOptions{
		Decrypt: envelope.DecryptOptions{Keyring: oldKR, Context: map[string]string{"dataset": "test"}},
		Keyring: kr,
	}}
}

// encryptTree encrypts plaintexts (by name) into dir with suite.
func encryptTree(t testing.TB, dir string, kr envelope.Keyring, suite envelope.SuiteID, files map[string][]byte) {
	t.Helper()
	enc := map[string][]byte{}
	for name, pt := range files {
		ct, err := envelope.EncryptBytes(context.Background(), pt, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: 100, Context: map[string]string{"dataset": "test"}})
		if err != nil {
			t.Fatal(err)
		}
		enc[name] = ct
	}
	writeTree(t, dir, enc)
}

func checkTree(t testing.TB, dir string, kr envelope.Keyring, files map[string][]byte) {
	t.Helper()
	for name, pt := range files {
		ct, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: kr, Context: map[string]string{"dataset": "test"}})
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestRewrapLocal(t *testing.T) {
	dir := t.TempDir()
	oldKR, newKR := namedKeyring(t, "old"), namedKeyring(t, "new")
	files := map[string][]byte{}
	for i := range 12 {
		files[fmt.Sprintf("d%d/part-%02d.csv.enc", i%3, i)] = randomBytes(t, i*150)
	}
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	encryptTree(t, in, oldKR, 0, files)
	ctx := context.Background()
	manifest := filepath.Join(dir, "job.jsonl")

	// Two shards, with a manifest, then a rerun that skips everything.
	var c collect
	for i := range 2 {
		_, err := dataset.Run(ctx, dataset.Options{
			Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(out),
			Operation: rewrapOp(t, oldKR, newKR), Manifest: manifest, Shard: dataset.Shard{Index: i, Count: 2}, Events: c.events,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	checkTree(t, out, newKR, files)
	if len(c.results) != 12 {
		t.Fatalf("%d results, want 12", len(c.results))
	}
	for _, r := range c.results {
		// A raw AES key's provider info is its name (hex "new"), a tag length and an IV.
		if r.Op != "rewrap" || len(r.WrappingKeys) != 1 || !strings.HasPrefix(r.WrappingKeys[0], "dataset-test 6e6577") {
			t.Errorf("result %+v: want the new wrapping key", r)
		}
	}
	sum, err := dataset.Run(ctx, dataset.Options{
		Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(out),
		Operation: rewrapOp(t, oldKR, newKR), Manifest: manifest,
	})
	if err != nil || sum.Skipped != 12 {
		t.Fatalf("rerun: %+v, %v; want 12 skipped", sum, err)
	}

	// In place: the destination is the source.
	c = collect{}
	inPlace := rewrapOp(t, oldKR, newKR)
	inPlace.InPlace = true
	manifest = filepath.Join(dir, "in-place.jsonl")
	sum, err = dataset.Run(ctx, dataset.Options{
		Sources: []dataset.Source{dataset.Source(in)}, Operation: inPlace, Manifest: manifest, Events: c.events,
	})
	if err != nil || sum.Done != 12 {
		t.Fatalf("in place: %+v, %v", sum, err)
	}
	checkTree(t, in, newKR, files)
	if got := listTree(t, in); len(got) != 12 {
		t.Errorf("in place left %v", got)
	}
	for _, r := range c.results {
		if r.Output != "" || r.Status != dataset.StatusDone {
			t.Errorf("in place: %+v, want done with no separate output", r)
		}
	}
	// A rerun skips what is done, though the old key no longer opens it.
	sum, err = dataset.Run(ctx, dataset.Options{Sources: []dataset.Source{dataset.Source(in)}, Operation: inPlace, Manifest: manifest})
	if err != nil || sum.Skipped != 12 {
		t.Fatalf("in-place rerun: %+v, %v; want 12 skipped", sum, err)
	}
}

func TestRewrapSignedNeedsReencrypt(t *testing.T) {
	dir := t.TempDir()
	oldKR, newKR := namedKeyring(t, "old"), namedKeyring(t, "new")
	files := map[string][]byte{"a.enc": randomBytes(t, 1000), "b.enc": randomBytes(t, 10)}
	in := filepath.Join(dir, "in")
	encryptTree(t, in, oldKR, envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, files)
	ctx := context.Background()

	var c collect
	_, err := dataset.Run(ctx, dataset.Options{
		Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(filepath.Join(dir, "out")),
		Operation: rewrapOp(t, oldKR, newKR), Events: c.events,
	})
	var be *dataset.BatchError
	if !errors.As(err, &be) || be.Failed != 2 {
		t.Fatalf("rewrap of signed messages: %v, want both to fail", err)
	}
	for _, r := range c.results {
		if r.ErrorClass != dataset.ClassPolicy {
			t.Errorf("%s: class %q (%s), want policy", r.Input, r.ErrorClass, r.Error)
		}
	}
	if got := listTree(t, filepath.Join(dir, "out")); len(got) != 0 {
		t.Errorf("refused items left outputs %v", got)
	}

	op := &dataset.Rewrap{
		Options:   envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKR, Context: map[string]string{"dataset": "test"}}},
		Reencrypt: &envelope.EncryptOptions{Keyring: newKR},
	}
	out := filepath.Join(dir, "out2")
	if _, err := dataset.Run(ctx, dataset.Options{Sources: []dataset.Source{dataset.Source(in)}, Destination: dataset.Destination(out), Operation: op}); err != nil {
		t.Fatal(err)
	}
	checkTree(t, out, newKR, files)
	for name := range files {
		ct, _ := os.ReadFile(filepath.Join(out, name))
		h, err := envelope.ParseHeader(bytes.NewReader(ct))
		if err != nil || !h.Suite.Signed() || h.Context["dataset"] != "test" {
			t.Errorf("%s re-encrypted: %+v, %v; want a signed message with the old context", name, h, err)
		}
	}
}

// TestRewrapS3 rewraps a prefix into another and then in place, through
// MinIO, with the bodies copied on the server side.
func TestRewrapS3(t *testing.T) {
	srv := minio.Start(t)
	bucket := srv.MakeBucket(t, "rewrap")
	ctx := context.Background()
	c := s3io.New(srv.Client(), s3io.Options{})
	oldKR, newKR := namedKeyring(t, "old"), namedKeyring(t, "new")
	files := map[string][]byte{"a/x.enc": randomBytes(t, 100), "a/y.enc": randomBytes(t, 6<<20), "z.enc": nil}
	for name, pt := range files {
		_, err := c.Upload(ctx, bucket, "enc/"+name, bytes.NewReader(pt), envelope.EncryptOptions{Keyring: oldKR, Context: map[string]string{"dataset": "test"}}, s3io.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(prefix string) {
		t.Helper()
		for name, pt := range files {
			r, err := c.Download(ctx, bucket, prefix+name, envelope.DecryptOptions{Keyring: newKR, Context: map[string]string{"dataset": "test"}}, s3io.GetOptions{})
			if err != nil {
				t.Fatalf("%s%s: %v", prefix, name, err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("%s%s: %v", prefix, name, err)
			}
		}
	}
	src := dataset.Source("s3://" + bucket + "/enc/")
	dir := t.TempDir()
	sum, err := dataset.Run(ctx, dataset.Options{Sources: []dataset.Source{src}, Destination: dataset.Destination("s3://" + bucket + "/new/"), Operation: rewrapOp(t, oldKR, newKR), S3: c, Manifest: filepath.Join(dir, "a.jsonl")})
	if err != nil || sum.Done != 3 {
		t.Fatalf("%+v, %v", sum, err)
	}
	check("new/")
	// A run killed before it recorded its outputs: a rerun recognises the
	// objects it wrote (their metadata names the source's version).
	sum, err = dataset.Run(ctx, dataset.Options{Sources: []dataset.Source{src}, Destination: dataset.Destination("s3://" + bucket + "/new/"), Operation: rewrapOp(t, oldKR, newKR), S3: c, Manifest: filepath.Join(dir, "b.jsonl")})
	if err != nil || sum.Done != 3 || sum.Failed != 0 {
		t.Fatalf("rerun without the records: %+v, %v; want the 3 outputs recognised", sum, err)
	}
	inPlace := rewrapOp(t, oldKR, newKR)
	inPlace.InPlace = true
	manifest := filepath.Join(t.TempDir(), "job.jsonl")
	sum, err = dataset.Run(ctx, dataset.Options{Sources: []dataset.Source{src}, Operation: inPlace, S3: c, Manifest: manifest})
	if err != nil || sum.Done != 3 {
		t.Fatalf("in place: %+v, %v", sum, err)
	}
	check("enc/")
	sum, err = dataset.Run(ctx, dataset.Options{Sources: []dataset.Source{src}, Operation: inPlace, S3: c, Manifest: manifest})
	if err != nil || sum.Skipped != 3 {
		t.Fatalf("in-place rerun: %+v, %v; want 3 skipped", sum, err)
	}
	ups, err := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("multipart uploads left: %v, %v", ups, err)
	}
}

// countingKeyring counts the data keys it wraps.
type countingKeyring struct {
	envelope.Keyring
	wraps atomic.Int64
}

func (k *countingKeyring) OnEncrypt(ctx context.Context, m *envelope.EncryptionMaterials) error {
	k.wraps.Add(1)
	return k.Keyring.OnEncrypt(ctx, m)
}

// Messages that share a data key (a batch encrypted through a caching
// materials manager) share its new wrapped keys: one wrap per data key and
// context, not per message.
func TestRewrapWrapsEachDataKeyOnce(t *testing.T) {
	dir := t.TempDir()
	oldKR := namedKeyring(t, "old")
	mm, err := cache.New(envelope.DefaultMaterials(oldKR), cache.Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	enc := map[string][]byte{}
	for i := range 12 {
		name := fmt.Sprintf("f%02d.enc", i)
		files[name] = randomBytes(t, 100+i)
		ec := map[string]string{"dataset": "test"}
		if i >= 10 {
			ec["extra"] = name // another context: another cache entry
		}
		ct, err := envelope.EncryptBytes(context.Background(), files[name], envelope.EncryptOptions{Materials: mm, Context: ec, SizeHint: int64(len(files[name]))})
		if err != nil {
			t.Fatal(err)
		}
		enc[name] = ct
	}
	writeTree(t, filepath.Join(dir, "in"), enc)
	newKR := &countingKeyring{Keyring: namedKeyring(t, "new")}
	op := &dataset.Rewrap{Options: envelope.RewrapOptions{Decrypt: envelope.DecryptOptions{Keyring: oldKR}, Keyring: newKR}}
	if _, err := dataset.Run(context.Background(), dataset.Options{
		Sources: []dataset.Source{dataset.Source(filepath.Join(dir, "in"))}, Destination: dataset.Destination(filepath.Join(dir, "out")), Operation: op, Jobs: 4,
	}); err != nil {
		t.Fatal(err)
	}
	if got := newKR.wraps.Load(); got != 3 {
		t.Errorf("%d wraps for 12 messages under 3 data keys, want 3", got)
	}
	for name, pt := range files {
		ct, _ := os.ReadFile(filepath.Join(dir, "out", name))
		got, err := envelope.DecryptBytes(context.Background(), ct, envelope.DecryptOptions{Keyring: newKR.Keyring, Context: map[string]string{"dataset": "test"}})
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

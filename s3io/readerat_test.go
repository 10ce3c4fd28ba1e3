package s3io_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

// TestReaderAt reads an encrypted object at random offsets and compares
// with the plaintext, and checks what is refused up front.
func TestReaderAt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const frame = 4096
	pt := streamBytes(9, 300*frame+17)
	enc := envelope.EncryptOptions{Keyring: f.kr, FrameLength: frame}
	if _, err := f.c.Upload(ctx, f.bucket, "ra.enc", bytes.NewReader(pt), enc, s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ra, err := f.c.OpenReaderAt(ctx, f.bucket, "ra.enc", envelope.DecryptOptions{Keyring: f.kr})
	if err != nil {
		t.Fatal(err)
	}
	if ra.Size() != int64(len(pt)) {
		t.Fatalf("size %d, want %d", ra.Size(), len(pt))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := rng.Int64N(int64(len(pt)) + 10)
		n := rng.IntN(3 * frame)
		p := make([]byte, n)
		got, err := ra.ReadAt(p, off)
		wantN := max(0, min(int64(n), int64(len(pt))-off))
		if int64(got) != wantN || !bytes.Equal(p[:got], pt[min(off, int64(len(pt))):off+wantN]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v: wrong bytes", n, off, got, err)
		}
		if (err == io.EOF) != (wantN < int64(n)) || err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d, %d): error %v", n, off, err)
		}
	}
	// One small read fetches about one frame, not the object.
	before := ra.Object().BytesFetched()
	if _, err := ra.ReadAt(make([]byte, 10), int64(len(pt)/2)); err != nil {
		t.Fatal(err)
	}
	if got := ra.Object().BytesFetched() - before; got > 2*(frame+64) {
		t.Errorf("a 10-byte read fetched %d bytes", got)
	}

	// Truncated: refused when opened.
	ct := f.getRaw(t, "ra.enc")
	if _, err := f.c.Put(ctx, f.bucket, "ra-short.enc", bytes.NewReader(ct[:len(ct)-(frame+28)]), s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.OpenReaderAt(ctx, f.bucket, "ra-short.enc", envelope.DecryptOptions{Keyring: f.kr}); !envelope.IsIntegrityError(err) {
		t.Errorf("truncated object opened: %v", err)
	}

	// Signed: refused, saying why.
	signed := enc
	signed.Suite = envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384
	if _, err := f.c.Upload(ctx, f.bucket, "signed.enc", bytes.NewReader(pt[:10000]), signed, s3io.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.OpenReaderAt(ctx, f.bucket, "signed.enc", envelope.DecryptOptions{Keyring: f.kr})
	if !errors.Is(err, envelope.ErrPolicy) {
		t.Errorf("signed message opened for random access: %v", err)
	} else {
		t.Logf("signed: %v", err)
	}
}

// sample is a row of the Parquet demo: a small numeric column among wide
// ones, as in a training set with features and raw text.
type sample struct {
	ID    int64   `parquet:"id"`
	Score float64 `parquet:"score"`
	Text  string  `parquet:"text"`
	Blob  []byte  `parquet:"blob"`
}

// TestParquetColumn writes a Parquet file, uploads it encrypted, opens it
// through the random-access ReaderAt with a Parquet reader and reads one
// column: only a small fraction of the object is fetched.
func TestParquetColumn(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const rows = 40000
	rng := rand.New(rand.NewPCG(3, 4))
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[sample](&buf, parquet.Compression(&parquet.Uncompressed))
	want := make([]float64, rows)
	batch := make([]sample, 0, 1000)
	for i := range rows {
		want[i] = rng.Float64()
		text := make([]byte, 200)
		for j := range text {
			text[j] = 'a' + byte(rng.IntN(26))
		}
		blob := make([]byte, 300)
		for j := range blob {
			blob[j] = byte(rng.Uint32())
		}
		batch = append(batch, sample{ID: int64(i), Score: want[i], Text: string(text), Blob: blob})
		if len(batch) == cap(batch) {
			if _, err := w.Write(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()

	res, err := f.c.Upload(ctx, f.bucket, "train.parquet.enc", bytes.NewReader(file), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ra, err := f.c.OpenReaderAt(ctx, f.bucket, "train.parquet.enc", envelope.DecryptOptions{Keyring: f.kr})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(ra, ra.Size(), &parquet.FileConfig{SkipPageIndex: true, SkipBloomFilters: true, ReadBufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	col, ok := pf.Schema().Lookup("score")
	if !ok {
		t.Fatal("no score column")
	}
	var got []float64
	var chunkBytes int64
	for i, rg := range pf.RowGroups() {
		cc := rg.ColumnChunks()[col.ColumnIndex]
		chunkBytes += pf.Metadata().RowGroups[i].Columns[col.ColumnIndex].MetaData.TotalCompressedSize
		pages := cc.Pages()
		for {
			p, err := pages.ReadPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]parquet.Value, p.NumValues())
			n, err := p.Values().ReadValues(vals)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			for _, v := range vals[:n] {
				got = append(got, v.Double())
			}
		}
		pages.Close()
	}
	if len(got) != rows {
		t.Fatalf("read %d values, want %d", len(got), rows)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
		}
	}
	fetched := ra.Object().BytesFetched()
	t.Logf("object %d bytes (%d row groups); score column %d bytes; fetched %d bytes (%.1f%%) in %d requests",
		res.Size, len(pf.RowGroups()), chunkBytes, fetched, 100*float64(fetched)/float64(res.Size), ra.Object().Requests())
	if fetched < chunkBytes {
		t.Errorf("fetched %d bytes, less than the column's %d: counting is wrong", fetched, chunkBytes)
	}
	if fetched > res.Size/10 {
		t.Errorf("fetched %d of %d bytes to read one column", fetched, res.Size)
	}
}

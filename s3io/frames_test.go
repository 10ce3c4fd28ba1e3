package s3io_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/s3io"
)

var frames = flag.Bool("s3io.frames", false, "measure the frame-length trade-off: throughput against read amplification")

// TestFrameLengthTradeoff logs, for several frame lengths, the throughput
// of encrypting and decrypting in memory and of an encrypted upload and
// download of 64 MiB to MinIO, and the bytes random access fetches for one
// 4 KiB read and for one Parquet column. It runs only with -s3io.frames.
func TestFrameLengthTradeoff(t *testing.T) {
	if !*frames {
		t.Skip("pass -s3io.frames to measure")
	}
	f, _ := benchFixture(t)
	ctx := context.Background()
	const n = 64 << 20
	pt := streamBytes(1, n)
	file := parquetFile(t, 40000)
	for _, fl := range []int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		enc := envelope.EncryptOptions{Keyring: f.kr, FrameLength: fl}
		dec := envelope.DecryptOptions{Keyring: f.kr}
		start := time.Now()
		ct, err := envelope.EncryptBytes(ctx, pt, enc)
		if err != nil {
			t.Fatal(err)
		}
		dr, err := envelope.Decrypt(ctx, bytes.NewReader(ct), dec)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, dr)
		mem := 2 * float64(n) / (1 << 20) / time.Since(start).Seconds()

		start = time.Now()
		if _, err := f.c.Upload(ctx, f.bucket, "fl", bytes.NewReader(pt), enc, s3io.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := f.c.Download(ctx, f.bucket, "fl", dec, s3io.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r)
		r.Close()
		s3rate := 2 * float64(n) / (1 << 20) / time.Since(start).Seconds()

		ra, err := f.c.OpenReaderAt(ctx, f.bucket, "fl", dec)
		if err != nil {
			t.Fatal(err)
		}
		before := ra.Object().BytesFetched()
		ra.ReadAt(make([]byte, 4096), n/2+100)
		small := ra.Object().BytesFetched() - before

		res, err := f.c.Upload(ctx, f.bucket, "pq", bytes.NewReader(file), enc, s3io.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pra, err := f.c.OpenReaderAt(ctx, f.bucket, "pq", dec)
		if err != nil {
			t.Fatal(err)
		}
		if got := readColumn(t, pra, pra.Size(), "score"); len(got) != 40000 {
			t.Fatal(len(got))
		}
		t.Logf("frame %7d: in memory %5.0f MiB/s, S3 up+down %4.0f MiB/s; a 4 KiB read fetches %7d bytes; a Parquet column (%d-byte object) fetches %7d bytes in %d requests",
			fl, mem, s3rate, small, res.Size, pra.Object().BytesFetched(), pra.Object().Requests())
	}
}

// parquetFile writes the Parquet demo file of TestParquetColumn.
func parquetFile(t *testing.T, rows int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[sample](&buf, parquet.Compression(&parquet.Uncompressed))
	for i := range rows {
		s := sample{ID: int64(i), Score: float64(i) / 3, Text: string(streamBytes(uint64(i), 200)), Blob: streamBytes(uint64(i)+1, 300)}
		if _, err := w.Write([]sample{s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readColumn reads one column of a Parquet file through ra.
func readColumn(t *testing.T, ra io.ReaderAt, size int64, name string) []float64 {
	t.Helper()
	pf, err := parquet.OpenFile(ra, size, &parquet.FileConfig{SkipPageIndex: true, SkipBloomFilters: true, ReadBufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	col, ok := pf.Schema().Lookup(name)
	if !ok {
		t.Fatal("no column", name)
	}
	var got []float64
	for _, rg := range pf.RowGroups() {
		pages := rg.ColumnChunks()[col.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			vals := make([]parquet.Value, p.NumValues())
			n, _ := p.Values().ReadValues(vals)
			for _, v := range vals[:n] {
				got = append(got, v.Double())
			}
		}
		pages.Close()
	}
	return got
}

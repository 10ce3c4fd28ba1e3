package s3io_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/internal/testserver/minio"
	"github.com/mlseal/mlseal/s3io"
)

// The benchmarks compare s3io's encrypted upload and download with a plain
// transfer-manager upload and download of the same bytes, with the same
// part size and concurrency, against MinIO on loopback. Run them with
//
//	go test -run '^$' -bench . -benchtime 3x -count 5 ./s3io/
//
// and compare the MB/s of each pair (benchstat helps).

const benchSize = 256 << 20

// benchFixture is a bucket on the shared server and clients with the
// default part size and concurrency.
func benchFixture(b testing.TB) (*fixture, *transfermanager.Client) {
	b.Helper()
	minio.Require(b)
	raw := shared.Client()
	f := &fixture{srv: shared, raw: raw, c: s3io.New(raw, s3io.Options{}), bucket: shared.MakeBucket(b, "bench"), kr: testKeyring(b)}
	o := f.c.Options()
	tm := transfermanager.New(raw, func(t *transfermanager.Options) {
		t.PartSizeBytes = o.PartSize
		t.Concurrency = o.Concurrency
		t.MultipartUploadThreshold = o.PartSize
	})
	return f, tm
}

// quickStream is a generated, unhashed stream: the benchmarks measure the
// transfer, not the test's checks.
func quickStream(n int64) io.Reader {
	s := newStream(7, n)
	s.h = nil
	return s
}

func BenchmarkUpload256MiB(b *testing.B) {
	f, tm := benchFixture(b)
	ctx := context.Background()
	b.Run("plain-transfermanager", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
				Bucket: aws.String(f.bucket), Key: aws.String("plain"), Body: quickStream(benchSize),
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encrypted-s3io", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			_, err := f.c.Upload(ctx, f.bucket, "enc", quickStream(benchSize), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDownload256MiB(b *testing.B) {
	f, tm := benchFixture(b)
	ctx := context.Background()
	if _, err := f.c.Put(ctx, f.bucket, "plain", quickStream(benchSize), s3io.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := f.c.Upload(ctx, f.bucket, "enc", quickStream(benchSize), envelope.EncryptOptions{Keyring: f.kr}, s3io.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Run("plain-transfermanager", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			out, err := tm.GetObject(ctx, &transfermanager.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("plain")})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, out.Body); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("plain-s3io", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			r, err := f.c.Get(ctx, f.bucket, "plain", s3io.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
			r.Close()
		}
	})
	b.Run("encrypted-s3io", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for b.Loop() {
			r, err := f.c.Download(ctx, f.bucket, "enc", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
				b.Fatal(n, err)
			}
			r.Close()
		}
	})
}

var ratios = flag.Int("s3io.ratios", 0, "measure encrypted/plain throughput ratios over this many alternating rounds")

// TestThroughputRatios alternates plain transfer-manager and encrypted
// transfers of 256 MiB, so that a busy machine slows both alike, and logs
// the median ratio of their throughputs. It runs only with -s3io.ratios=N.
func TestThroughputRatios(t *testing.T) {
	if *ratios == 0 {
		t.Skip("pass -s3io.ratios=N to measure")
	}
	f, tm := benchFixture(t)
	ctx := context.Background()
	timeIt := func(fn func() error) float64 {
		start := time.Now()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start).Seconds()
	}
	enc := envelope.EncryptOptions{Keyring: f.kr}
	var up, down, downOwn []float64
	var plainUp, encUp, plainDown, ownDown, encDown float64
	for range *ratios {
		p := timeIt(func() error {
			_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("plain"), Body: quickStream(benchSize)})
			return err
		})
		e := timeIt(func() error {
			_, err := f.c.Upload(ctx, f.bucket, "enc", quickStream(benchSize), enc, s3io.PutOptions{})
			return err
		})
		up = append(up, p/e)
		plainUp += p
		encUp += e
		pd := timeIt(func() error {
			out, err := tm.GetObject(ctx, &transfermanager.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("plain")})
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, out.Body)
			return err
		})
		od := timeIt(func() error {
			r, err := f.c.Get(ctx, f.bucket, "plain", s3io.GetOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(io.Discard, r)
			return err
		})
		ed := timeIt(func() error {
			r, err := f.c.Download(ctx, f.bucket, "enc", envelope.DecryptOptions{Keyring: f.kr}, s3io.GetOptions{})
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = io.Copy(io.Discard, r)
			return err
		})
		down = append(down, pd/ed)
		downOwn = append(downOwn, od/ed)
		plainDown += pd
		ownDown += od
		encDown += ed
	}
	mib := func(secs float64) float64 { return float64(*ratios) * benchSize / (1 << 20) / secs }
	t.Logf("upload:   transfer manager %.0f MiB/s, encrypted %.0f MiB/s, median ratio %.2f (rounds %.2f)", mib(plainUp), mib(encUp), median(up), up)
	t.Logf("download: transfer manager GetObject %.0f MiB/s, s3io plain %.0f MiB/s, encrypted %.0f MiB/s; median ratio %.2f vs the transfer manager, %.2f vs s3io plain",
		mib(plainDown), mib(ownDown), mib(encDown), median(down), median(downOwn))
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkDownloadSettings downloads 256 MiB with plain ranged GETs at
// part sizes and concurrencies around the defaults (8 MiB, 5), to show
// where the loopback limit of MinIO on this machine lies: a setting that
// goes no faster than the default shows the default reaches it.
func BenchmarkDownloadSettings(b *testing.B) {
	f, _ := benchFixture(b)
	ctx := context.Background()
	if _, err := f.c.Put(ctx, f.bucket, "plain", quickStream(benchSize), s3io.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, part := range []int64{4 << 20, 8 << 20, 16 << 20} {
		for _, conc := range []int{1, 2, 5, 10} {
			c := s3io.New(f.raw, s3io.Options{PartSize: part, Concurrency: conc})
			b.Run(fmt.Sprintf("part=%dMiB/concurrency=%d", part>>20, conc), func(b *testing.B) {
				b.SetBytes(benchSize)
				b.ReportAllocs()
				for b.Loop() {
					r, err := c.Get(ctx, f.bucket, "plain", s3io.GetOptions{})
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
						b.Fatal(n, err)
					}
					r.Close()
				}
			})
		}
	}
}

package cache

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mlseal/mlseal/envelope"
)

// BenchmarkKMS10000Files4KiB encrypts and then decrypts 10,000 messages of
// 4 KiB, one after another, with an AWS KMS keyring talking to the KMS test
// server over loopback HTTP, with and without data-key caching (5 minutes,
// 10,000 messages: the CLI's batch settings). It reports the KMS calls of
// one round of 10,000 files. Run with -benchtime=1x.
func BenchmarkKMS10000Files4KiB(b *testing.B) {
	const files, size = 10000, 4 << 10
	for _, cached := range []bool{false, true} {
		name := "cache=off"
		if cached {
			name = "cache=on"
		}
		b.Run(name, func(b *testing.B) {
			f := setup(b)
			pt := make([]byte, size)
			cts := make([][]byte, files)
			b.ReportAllocs()
			b.SetBytes(files * size)
			var encCalls, decCalls int
			var encTime, decTime time.Duration
			for b.Loop() {
				f.srv.ResetCalls()
				var encMM, decMM envelope.MaterialsManager = envelope.DefaultMaterials(f.kr), envelope.DefaultMaterials(f.kr)
				if cached {
					encMM, _ = New(encMM, Options{MaxAge: 5 * time.Minute, MaxMessages: 10000})
					decMM, _ = New(decMM, Options{MaxAge: 5 * time.Minute})
				}
				ctx := context.Background()
				start := time.Now()
				for i := range files {
					var buf bytes.Buffer
					w, err := envelope.Encrypt(ctx, &buf, envelope.EncryptOptions{Materials: encMM, SizeHint: size, Context: map[string]string{"job": "bench"}})
					if err != nil {
						b.Fatal(err)
					}
					w.Write(pt)
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
					cts[i] = buf.Bytes()
				}
				encTime += time.Since(start)
				encCalls = f.srv.Calls("")
				start = time.Now()
				for i := range files {
					r, err := envelope.Decrypt(ctx, bytes.NewReader(cts[i]), envelope.DecryptOptions{Materials: decMM})
					if err != nil {
						b.Fatal(err)
					}
					var out bytes.Buffer
					if _, err := out.ReadFrom(r); err != nil || out.Len() != size {
						b.Fatal(err)
					}
				}
				decTime += time.Since(start)
				decCalls = f.srv.Calls("") - encCalls
			}
			b.ReportMetric(float64(encCalls), "kms-encrypt-calls")
			b.ReportMetric(float64(decCalls), "kms-decrypt-calls")
			b.ReportMetric(encTime.Seconds()/float64(b.N), "encrypt-s")
			b.ReportMetric(decTime.Seconds()/float64(b.N), "decrypt-s")
		})
	}
}

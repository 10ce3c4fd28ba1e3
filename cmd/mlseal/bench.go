package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"fmt"
	"io"
	"runtime"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlseal/mlseal/envelope"
	"github.com/mlseal/mlseal/envelope/keyring/rawaes"
)

type benchFlags struct {
	sizeMiB  int
	frameLen int
	duration time.Duration
}

func (a *app) benchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure this machine's AES-GCM and SHA-384 speeds and mlseal's on them",
		Long: `Measure this machine's raw AES-256-GCM and SHA-384 speeds, then mlseal's
encrypt and decrypt on the same data, and print the ratios: AES-GCM bounds
the unsigned suite 0x0478, SHA-384 the signed suite 0x0578. Uses an
ephemeral key; nothing is written to disk.`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.bench(cmd.Context(), f)
		}),
	}
	cmd.Flags().IntVar(&f.sizeMiB, "size", 64, "`MiB` of plaintext per operation")
	cmd.Flags().IntVar(&f.frameLen, "frame-length", envelope.DefaultFrameLength, "plaintext `BYTES` per frame")
	cmd.Flags().DurationVar(&f.duration, "duration", 700*time.Millisecond, "`DURATION` spent on each measurement")
	return cmd
}

// measurement is one line of the bench table.
type measurement struct {
	name  string
	mbps  float64
	ratio string
}

func (a *app) bench(ctx context.Context, f benchFlags) error {
	if f.sizeMiB < 1 || f.frameLen < 1 || f.frameLen > envelope.DefaultMaxFrameLength || f.duration <= 0 {
		return usageErrorf("--size, --frame-length and --duration must be positive (frame length at most %d)", envelope.DefaultMaxFrameLength)
	}
	pt := make([]byte, f.sizeMiB<<20)
	key := make([]byte, 32)
	rand.Read(pt)
	rand.Read(key)
	kr, err := rawaes.New("mlseal-bench", "ephemeral", key)
	if err != nil {
		return err
	}
	cores := runtime.GOMAXPROCS(0)
	progress := isTerminal(a.stderr) && !a.quiet
	run := func(name string, op func() error) (float64, error) {
		if progress {
			fmt.Fprintf(a.stderr, "mlseal: measuring %s...\n", name)
		}
		return measure(len(pt), f.duration, op)
	}

	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	gcmOne, err := run("AES-256-GCM, 1 core", func() error { sealFrames(aead, pt, f.frameLen); return nil })
	if err != nil {
		return err
	}
	gcmAll, err := run("AES-256-GCM, all cores", func() error {
		var wg sync.WaitGroup
		share := (len(pt)/cores + f.frameLen - 1) / f.frameLen * f.frameLen
		for off := 0; off < len(pt); off += share {
			wg.Go(func() { sealFrames(aead, pt[off:min(off+share, len(pt))], f.frameLen) })
		}
		wg.Wait()
		return nil
	})
	if err != nil {
		return err
	}
	sha, err := run("SHA-384", func() error { sha512.Sum384(pt); return nil })
	if err != nil {
		return err
	}
	encrypt := func(suite envelope.SuiteID, workers int) func() error {
		return func() error {
			w, err := envelope.Encrypt(ctx, io.Discard, envelope.EncryptOptions{Keyring: kr, Suite: suite, FrameLength: f.frameLen, Workers: workers})
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil {
				return err
			}
			return w.Close()
		}
	}
	encOne, err := run("mlseal encrypt 0x0478, 1 worker", encrypt(envelope.AES256GCMHKDFSHA512CommitKey, 1))
	if err != nil {
		return err
	}
	encAll, err := run(fmt.Sprintf("mlseal encrypt 0x0478, %d workers", cores), encrypt(envelope.AES256GCMHKDFSHA512CommitKey, cores))
	if err != nil {
		return err
	}
	encSigned, err := run("mlseal encrypt 0x0578", encrypt(envelope.AES256GCMHKDFSHA512CommitKeyECDSAP384, cores))
	if err != nil {
		return err
	}
	ct, err := envelope.EncryptBytes(ctx, pt, envelope.EncryptOptions{Keyring: kr, FrameLength: f.frameLen})
	if err != nil {
		return err
	}
	decrypt := func(workers int) func() error {
		return func() error {
			r, err := envelope.Decrypt(ctx, bytes.NewReader(ct), envelope.DecryptOptions{Keyring: kr, Workers: workers})
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, r)
			return err
		}
	}
	decOne, err := run("mlseal decrypt 0x0478, 1 worker", decrypt(1))
	if err != nil {
		return err
	}
	decAll, err := run(fmt.Sprintf("mlseal decrypt 0x0478, %d workers", cores), decrypt(cores))
	if err != nil {
		return err
	}

	of := func(v, base float64, what string) string { return fmt.Sprintf("%.2f x %s", v/base, what) }
	rows := []measurement{
		{"AES-256-GCM seal, 1 core (the limit)", gcmOne, ""},
		{fmt.Sprintf("AES-256-GCM seal, %d cores", cores), gcmAll, of(gcmAll, gcmOne, "1 core")},
		{"mlseal encrypt 0x0478, 1 worker", encOne, of(encOne, gcmOne, "AES-GCM")},
		{fmt.Sprintf("mlseal encrypt 0x0478, %d workers", cores), encAll, of(encAll, encOne, "1 worker")},
		{"mlseal decrypt 0x0478, 1 worker", decOne, of(decOne, gcmOne, "AES-GCM")},
		{fmt.Sprintf("mlseal decrypt 0x0478, %d workers", cores), decAll, of(decAll, decOne, "1 worker")},
		{"SHA-384, 1 core (the signed limit)", sha, ""},
		{fmt.Sprintf("mlseal encrypt 0x0578, %d workers", cores), encSigned, of(encSigned, sha, "SHA-384")},
	}
	fmt.Fprintf(a.stdout, "%s, %d MiB per operation, %d-byte frames, GOMAXPROCS %d\n\n", versionString(), f.sizeMiB, f.frameLen, cores)
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "measurement\tMB/s\tratio")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%s\n", r.name, r.mbps, r.ratio)
	}
	return tw.Flush()
}

// sealFrames seals b frame by frame, as the unsigned suite does, into one
// reused buffer.
func sealFrames(aead cipher.AEAD, b []byte, frameLen int) {
	out := make([]byte, frameLen+aead.Overhead())
	var nonce [12]byte
	for off := 0; off < len(b); off += frameLen {
		nonce[11]++
		aead.Seal(out[:0], nonce[:], b[off:min(off+frameLen, len(b))], nil)
	}
}

// measure runs op, which processes n bytes, for at least d, and returns the
// throughput in MB/s (10^6 bytes per second).
func measure(n int, d time.Duration, op func() error) (float64, error) {
	runtime.GC()
	if err := op(); err != nil { // warm up: buffers, goroutines, caches
		return 0, err
	}
	start := time.Now()
	runs := 0
	for time.Since(start) < d || runs == 0 {
		if err := op(); err != nil {
			return 0, err
		}
		runs++
	}
	return float64(n) * float64(runs) / time.Since(start).Seconds() / 1e6, nil
}

func init() { productCommands = append(productCommands, (*app).benchCmd) }

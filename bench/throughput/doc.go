// Package throughput holds mlseal's throughput benchmarks: mlseal side by
// side with its limits (raw AES-256-GCM over the same frames, raw SHA-384)
// and with its peers (the AWS Encryption SDK for Go, Tink streaming AEAD,
// age and sio), all in one run. The benchmarks live in the package's test
// files; `go run ./cmd/benchtable` runs them and prints one table (see
// bench/README.md).
//
// Benchmark names read as group/size/implementation/settings, for example
// BenchmarkEncrypt/64MiB/mlseal-0x0478/frame=256KiB/workers=1. The streamed
// cases, BenchmarkStream/1GiB/..., read their plaintext from a cheap
// deterministic generator and write to io.Discard, and report the process's
// peak resident set size as the metric peak-RSS-MiB; the runner measures each
// in a process of its own, named by StreamCaseNames.
package throughput

import (
	"fmt"

	"github.com/mlseal/mlseal/envelope"
)

// StreamSize is the plaintext length of the streamed cases.
const StreamSize = 1 << 30

// Workers returns the worker counts the benchmarks use on a machine with
// procs cores: one, and all of them.
func Workers(procs int) []int {
	if procs <= 1 {
		return []int{1}
	}
	return []int{1, procs}
}

// StreamCaseNames returns the names of the sub-benchmarks of
// BenchmarkStream/1GiB when GOMAXPROCS is procs, in the order they run.
// The runner runs each in a fresh process, so that the peak RSS reported is
// the case's own.
func StreamCaseNames(procs int) []string {
	def := SizeName(envelope.DefaultFrameLength)
	var names []string
	for _, w := range Workers(procs) {
		names = append(names, fmt.Sprintf("AESGCM-seal/frame=%s/workers=%d", def, w))
	}
	names = append(names,
		"AESGCM-seal/frame=64KiB/workers=1",
		"AESGCM-seal/frame=1MiB/workers=1",
		"SHA384",
	)
	for _, w := range Workers(procs) {
		names = append(names, fmt.Sprintf("mlseal-0x0478/frame=%s/workers=%d", def, w))
	}
	for _, w := range Workers(procs) {
		names = append(names, fmt.Sprintf("mlseal-0x0478-decrypt/frame=%s/workers=%d", def, w))
	}
	names = append(names,
		fmt.Sprintf("mlseal-0x0578/frame=%s/workers=%d", def, procs),
		"esdk-0x0578/frame=4KiB",
		"tink/frame=1MiB",
		"age/frame=64KiB",
		"sio/frame=64KiB",
	)
	return names
}

// SizeName names a byte count the way benchmark names do: 4KiB, 64MiB, 1GiB.
func SizeName(n int) string {
	const kib, mib, gib = 1 << 10, 1 << 20, 1 << 30
	switch {
	case n >= gib && n%gib == 0:
		return fmt.Sprintf("%dGiB", n/gib)
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%dMiB", n/mib)
	case n >= kib && n%kib == 0:
		return fmt.Sprintf("%dKiB", n/kib)
	}
	return fmt.Sprintf("%dB", n)
}

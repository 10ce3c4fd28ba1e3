#!/usr/bin/env bash
# Runs the whole test suite: the SDK and CLI, the envelope again in Go's
# FIPS 140-3 mode, short fuzz runs, and the interoperability tests against
# the AWS Encryption SDKs for JavaScript (from npm) and Go (from the Go
# module proxy), installing those peers first.
set -euo pipefail
cd "$(dirname "$0")/.."
# Fuzz budgets are counts of inputs, about 10 seconds each on a quiet 2-core
# machine: with a duration, Go 1.26's fuzzing coordinator can report
# "context deadline exceeded" as a failure when the time runs out while a
# worker is busy, with no failing input (go.dev/issue/75804, fixed in Go
# 1.27). FUZZTIME, if set, is the budget of every target instead.
fuzztime=${FUZZTIME:-}

echo "== installing test peers"
bash bench/interop/setup.sh
eval "$(bash scripts/minio.sh --export)" # MinIO for the s3io suite, built once into a cache outside the clone

# The Beam module (beam/, its own go.mod) compiles about 1,000 packages the
# first time: build its tests in the background while the other suites run,
# and run them last.
beam_log=$(mktemp)
(cd beam && go test -count=1 -run '^$' ./... >"$beam_log" 2>&1) &
beam_build=$!

echo "== unit and CLI tests"
go test -count=1 ./...

echo "== the streaming pipelines under the race detector"
# Frames are read, sealed, opened and lent across goroutines: the tests
# that check no goroutine touches a caller's bytes after a call returns
# detect it only here. (-short skips the memory measurements, which the
# race detector's shadow memory would inflate.)
go test -count=1 -race -short ./envelope ./envelope/cache ./envelope/internal/frame ./s3io

echo "== envelope in FIPS 140-3 mode"
GODEBUG=fips140=on go test -count=1 ./envelope/...

echo "== fuzzing, ${fuzztime:-about 10 s} per target"
fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${fuzztime:-$3}" "$1"; }
fuzz ./envelope/internal/header FuzzParse 500000x
fuzz ./envelope/internal/header FuzzParseContext 200000x
fuzz ./envelope FuzzDecrypt 30000x
fuzz ./secrets FuzzParseRef 70000x
fuzz ./tokenize FuzzCSV 15000x
fuzz ./tokenize FuzzJSONL 20000x
fuzz ./envelope FuzzRewrap 150000x
fuzz ./tokenize FuzzValidJSON 20000x
fuzz ./tokenize FuzzFindSpans 20000x
fuzz ./tokenize FuzzScan 40000x
fuzz ./tokenize/ff1 FuzzRoundTrip 35000x
fuzz ./tokenize/siv FuzzTink 40000x
fuzz ./dataset FuzzCheckName 50000x

echo "== interoperability with the AWS Encryption SDKs"
(cd bench && go test -count=1 ./...)

echo "== Apache Beam transforms on Prism"
wait "$beam_build" || { cat "$beam_log"; exit 1; }
(cd beam && go test -count=1 ./...)

#!/usr/bin/env bash
# Fails on any output from gofmt -l, go vet or staticcheck, in every module.
set -euo pipefail
cd "$(dirname "$0")/.."
staticcheck=honnef.co/go/tools/cmd/staticcheck@v0.8.2
status=0
for mod in . bench beam; do
  (
    cd "$mod"
    out=$(gofmt -l . 2>&1)
    if [ -n "$out" ]; then echo "gofmt -l ($mod):"; echo "$out"; exit 1; fi
    go vet ./...
    go run "$staticcheck" ./...
  ) || status=1
done
exit $status

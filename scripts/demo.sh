#!/usr/bin/env bash
# Encrypts the sample dataset with mlseal's default local key (created on
# first use in the user's config directory), decrypts it back and checks
# that the round trip is exact. Needs only Go.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "demo: building mlseal; the first build downloads and compiles its modules (the AWS SDK among them) and takes a few minutes, later ones seconds"
go build -o "$work/mlseal" ./cmd/mlseal
mlseal=$work/mlseal
in=testdata/flowers.csv

"$mlseal" encrypt --context dataset=flowers -o "$work/flowers.csv.enc" "$in"
"$mlseal" inspect "$work/flowers.csv.enc"
"$mlseal" verify --context dataset=flowers "$work/flowers.csv.enc"
"$mlseal" decrypt --context dataset=flowers -o "$work/flowers.csv" "$work/flowers.csv.enc"
cmp "$in" "$work/flowers.csv"
echo "demo: $in ($(wc -c <"$in") bytes) encrypted to $(wc -c <"$work/flowers.csv.enc") bytes, decrypted back byte for byte"
key=$("$mlseal" version --verbose | sed -n 's/^default key: \(.*\) (.*)$/\1/p')
echo "demo: the default key is $key: back it up, since whoever loses it loses the data encrypted with it"
echo "demo: to keep using mlseal, install it with: go install ./cmd/mlseal"

#!/usr/bin/env bash
# Builds the pinned MinIO server that the s3io integration tests run against,
# into a cache directory outside the clone, and prints the binary's path.
# A later run on the same machine reuses the binary; a fresh machine builds it
# again (about four minutes and 1.6 GB of memory on two cores).
#
# Usage: bash scripts/minio.sh            # build if missing, print the path
#        eval "$(bash scripts/minio.sh --export)"   # set MLSEAL_MINIO
set -euo pipefail

version=v0.0.0-20260212201848-7aac2a2c5b7c
cache=${MLSEAL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlseal}
dir=$cache/minio/$version
bin=$dir/bin/minio

if [[ ! -x $bin ]]; then
	echo "minio.sh: building github.com/minio/minio@$version into $dir (takes minutes)" >&2
	mkdir -p "$dir"
	tmp=$(mktemp -d "$dir/build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	# GOFLAGS from the caller (for example -mod=mod) must not leak into the
	# build of another module.
	GOFLAGS=-trimpath GOBIN="$tmp" go install "github.com/minio/minio@$version"
	mkdir -p "$dir/bin"
	mv "$tmp/minio" "$bin.new"
	mv "$bin.new" "$bin"
	echo "minio.sh: built $bin" >&2
fi

if [[ ${1:-} == --export ]]; then
	printf 'export MLSEAL_MINIO=%q\n' "$bin"
else
	echo "$bin"
fi

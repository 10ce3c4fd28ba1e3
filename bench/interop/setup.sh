#!/usr/bin/env bash
# Installs the JavaScript peer of the interoperability tests (the AWS
# Encryption SDK for JavaScript, @aws-crypto/client-node) into
# bench/interop/js/node_modules from the committed package-lock.json.
# Idempotent: when node_modules already matches the lock file it does nothing.
# Needs node (18 or later) and npm.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/js" && pwd)"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "setup.sh: node and npm are needed for the JavaScript interop peer (Debian: apt-get install nodejs npm)" >&2
	exit 1
fi

# After a successful install the lock file's hash is kept in node_modules;
# when it still matches, the install is current and npm is not run.
stamp="$dir/node_modules/.mlseal-lock.sha256"
want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$dir/node_modules/@aws-crypto/client-node/package.json" ]]; then
	echo "setup.sh: JavaScript interop peer already installed in $dir/node_modules"
	exit 0
fi

cd "$dir"
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
node -e "import('@aws-crypto/client-node').then(() => console.log('setup.sh: @aws-crypto/client-node ' + require('@aws-crypto/client-node/package.json').version + ' installed, node ' + process.version))"

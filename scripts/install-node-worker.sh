#!/usr/bin/env bash
# Installs the Node.js example consumer's dependencies (examples/node_worker) from its
# committed lockfile, so the conformance kit can run it. Without node and npm there is
# nothing to install: the kit then skips the Node consumer and says why.
set -euo pipefail

cd "$(dirname "$0")/../examples/node_worker"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "install-node-worker: skipped: node not found (the Node consumer's tests will be skipped)"
    exit 0
fi

# npm ci installs exactly what package-lock.json pins and nothing else.
npm ci --no-audit --no-fund --loglevel=error
echo "install-node-worker: installed examples/node_worker dependencies with node $(node --version)"

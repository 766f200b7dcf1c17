#!/usr/bin/env bash
# The README's first command: installs what a fresh machine lacks (cmake and libclang to
# build llama.cpp, the local model), then runs examples/quickstart.rs on the local model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-local.sh
cargo run --features local --example quickstart

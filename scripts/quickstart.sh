#!/usr/bin/env bash
# The README's first command: installs what a fresh machine lacks (cmake and libclang to
# build llama.cpp, the local model), then runs examples/quickstart.rs on the local model.
#
# It builds the examples the way the test command does (`--workspace`), so that a later
# `cargo test --workspace --features local` reuses the llama.cpp build instead of
# compiling it again with a differently-featured bindgen.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-local.sh
cargo build --workspace --examples --features local
exec target/debug/examples/quickstart "$@"

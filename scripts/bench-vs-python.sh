#!/usr/bin/env bash
# Side-by-side benchmarks with Python DSPy 3.4.1, in one run: builds the dspy-rs side
# (examples/bench_vs_python.rs) and the loopback stub LM server, sets up the Python venv,
# runs every measure on both sides against the same server, and rewrites the
# "Side by side with Python DSPy" section of BENCHMARKS.md (bench/render.py).
#
#   bash scripts/bench-vs-python.sh                 # the sizes in BENCHMARKS.md
#   N_EVAL=1000 N_OVERHEAD=200 N_COMPILE=40 bash scripts/bench-vs-python.sh   # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."
N_EVAL=${N_EVAL:-10000}
N_OVERHEAD=${N_OVERHEAD:-2000}
N_COMPILE=${N_COMPILE:-200}
ROUNDS=${ROUNDS:-5}
# A model DSPy has prices for: with an unknown name it scans its price table on every
# call (about 0.7 ms here), a cost no real run pays. The stub answers any name.
PY_MODEL=${PY_MODEL:-openai/gpt-4o-mini}

cargo build --release --example bench_vs_python --example bench_stub_server >&2
if ! .venv-dspy/bin/python -c 'import sys, dspy; sys.exit(dspy.__version__ != "3.4.1")' 2>/dev/null; then
    rm -rf .venv-dspy
    python3 -m venv .venv-dspy
    .venv-dspy/bin/pip install --quiet --disable-pip-version-check dspy==3.4.1 >&2
fi
PY=.venv-dspy/bin/python
RS=target/release/examples/bench_vs_python

work=$(mktemp -d)
export DSPY_CACHEDIR="$work/dspy-cache"
target/release/examples/bench_stub_server >"$work/url" &
stub=$!
trap 'kill $stub 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
URL=$(cat "$work/url")
echo "stub LM server at $URL" >&2

results="$work/results.jsonl"
# run SIDE MEASURE COMMAND...: the command's last stdout line (JSON) into the results.
run() {
    local side=$1 measure=$2
    shift 2
    echo "== $side $measure" >&2
    local json
    json=$("$@" | tail -n 1)
    echo "{\"side\": \"$side\", \"measure\": \"$measure\", \"result\": $json}" >>"$results"
}

run rust overhead "$RS" overhead --n "$N_OVERHEAD" --rounds "$ROUNDS"
run python overhead "$PY" bench/python/overhead.py --n "$N_OVERHEAD" --rounds "$ROUNDS"
for c in 1 8 64; do
    run rust "evaluate-$c" "$RS" evaluate --url "$URL" --n "$N_EVAL" --concurrency "$c"
    run python "evaluate-$c" "$PY" bench/python/evaluate_http.py --url "$URL" --n "$N_EVAL" --concurrency "$c" --model "$PY_MODEL"
done
run server ceiling "$RS" ceiling --url "$URL" --n "$N_EVAL" --concurrency 64
run rust compile "$RS" compile --url "$URL" --n "$N_COMPILE"
run python compile "$PY" bench/python/compile.py --url "$URL" --n "$N_COMPILE" --model "$PY_MODEL"
run rust startup "$RS" startup --rounds "$ROUNDS"
run python startup "$PY" bench/python/startup.py --rounds "$ROUNDS"

python3 bench/render.py "$results" BENCHMARKS.md

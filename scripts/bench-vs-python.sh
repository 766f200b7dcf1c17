#!/usr/bin/env bash
# Side-by-side benchmarks with Python DSPy 3.4.1, in one run: builds the dspy-rs side
# (examples/bench_vs_python.rs), the loopback stub LM server and the local-model server,
# sets up the Python venv, runs every measure on both sides against the same servers, and
# rewrites the "Side by side with Python DSPy" section of BENCHMARKS.md, bench/results.jsonl
# and the chart bench/vs-python.svg (bench/render.py).
#
# Two halves: `stub` (framework costs, against a server that answers at once; minutes) and
# `real` (the local model served over HTTP, scores and compile times; about an hour on two
# cores). PARTS picks; a half not run keeps its last results from bench/results.jsonl.
#
#   bash scripts/bench-vs-python.sh                 # both halves, the sizes in BENCHMARKS.md
#   PARTS=stub bash scripts/bench-vs-python.sh      # the stub half only
#   N_EVAL=1000 N_OVERHEAD=200 N_COMPILE=40 PARTS=stub bash scripts/bench-vs-python.sh   # a quick run
#   N_TRAIN=20 N_DEV=20 REAL_PROGRAMS=uncompiled,bootstrap PARTS=real bash scripts/bench-vs-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N_EVAL=${N_EVAL:-10000}
N_OVERHEAD=${N_OVERHEAD:-2000}
N_COMPILE=${N_COMPILE:-200}
ROUNDS=${ROUNDS:-5}
PARTS=${PARTS:-stub,real}
N_TRAIN=${N_TRAIN:-40}
N_DEV=${N_DEV:-100}
REAL_PROGRAMS=${REAL_PROGRAMS:-uncompiled,bootstrap,mipro}
# A model DSPy has prices for: with an unknown name it scans its price table on every
# call (about 0.7 ms here), a cost no real run pays. The stub answers any name.
PY_MODEL=${PY_MODEL:-openai/gpt-4o-mini}

cargo build --release --example bench_vs_python --example bench_stub_server >&2
if [[ $PARTS == *real* ]]; then
    # The local model's server; llama.cpp is optimized in dev builds too (Cargo.toml), and
    # this reuses the build the tests and examples make.
    [ -f "${DSPY_LOCAL_MODEL:-$HOME/.cache/dspy-rs/models/gemma-3-270m-q4_k_m.gguf}" ] || bash scripts/setup-local.sh >&2
    cargo build --features local --example serve_local >&2
fi
# MIPROv2 needs optuna (DSPy's `optuna` extra).
if ! .venv-dspy/bin/python -c 'import sys, dspy, optuna; sys.exit(dspy.__version__ != "3.4.1")' 2>/dev/null; then
    if ! .venv-dspy/bin/python -c 'import sys, dspy; sys.exit(dspy.__version__ != "3.4.1")' 2>/dev/null; then
        rm -rf .venv-dspy
        python3 -m venv .venv-dspy
    fi
    .venv-dspy/bin/pip install --quiet --disable-pip-version-check "dspy[optuna]==3.4.1" >&2
fi
PY=.venv-dspy/bin/python
RS=target/release/examples/bench_vs_python

work=$(mktemp -d)
export DSPY_CACHEDIR="$work/dspy-cache"
servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
# serve BINARY NAME: starts a server that prints its URL; sets URL.
serve() {
    "$1" >"$work/$2.url" &
    servers+=($!)
    for _ in $(seq 600); do [ -s "$work/$2.url" ] && break; sleep 0.1; done
    URL=$(cat "$work/$2.url")
    echo "$2 at $URL" >&2
}

results="$work/results.jsonl"
: >"$results"
# run SIDE MEASURE COMMAND...: the command's last stdout line (JSON) into the results.
run() {
    local side=$1 measure=$2
    shift 2
    echo "== $side $measure" >&2
    local json
    json=$("$@" | tail -n 1)
    echo "{\"side\": \"$side\", \"measure\": \"$measure\", \"result\": $json}" >>"$results"
}

if [[ $PARTS == *stub* ]]; then
serve target/release/examples/bench_stub_server "stub LM server"
run rust overhead "$RS" overhead --n "$N_OVERHEAD" --rounds "$ROUNDS"
run python overhead "$PY" bench/python/overhead.py --n "$N_OVERHEAD" --rounds "$ROUNDS"
# Evaluate at 64 against the server's ceiling: each round is followed by a ceiling round
# (raw POSTs of the same request, in a child process), so a share comes from rounds that
# saw the same machine; and as where the scheduler places a process's threads moves its
# throughput by a fifth here, three processes, the one with the median share kept (all
# three shares with it).
evaluate_64() {
    for k in 1 2 3; do
        "$RS" evaluate --url "$URL" --n "$N_EVAL" --concurrency 64 --rounds "$ROUNDS" --versus-ceiling | tail -n 1
    done | python3 -c '
import json, sys
runs = [json.loads(line) for line in sys.stdin if line.strip()]
runs.sort(key=lambda r: r.get("of_ceiling", 0))
kept = runs[len(runs) // 2]
kept["process_shares"] = [r.get("of_ceiling") for r in runs]
print(json.dumps(kept))'
}
for c in 1 8 64; do
    if [ "$c" = 64 ]; then
        run rust evaluate-64 evaluate_64
    else
        run rust "evaluate-$c" "$RS" evaluate --url "$URL" --n "$N_EVAL" --concurrency "$c" --rounds "$ROUNDS"
    fi
    run python "evaluate-$c" "$PY" bench/python/evaluate_http.py --url "$URL" --n "$N_EVAL" --concurrency "$c" --model "$PY_MODEL"
done
run rust compile "$RS" compile --url "$URL" --n "$N_COMPILE"
run python compile "$PY" bench/python/compile.py --url "$URL" --n "$N_COMPILE" --model "$PY_MODEL"
run rust startup "$RS" startup --rounds "$ROUNDS"
run python startup "$PY" bench/python/startup.py --rounds "$ROUNDS"
fi

if [[ $PARTS == *real* ]]; then
serve target/debug/examples/serve_local "local model server"
"$RS" split --out "$work/split" --train "$N_TRAIN" --dev "$N_DEV" >&2
split=(--train "$work/split/train.jsonl" --dev "$work/split/dev.jsonl" --programs "$REAL_PROGRAMS")
run rust real "$RS" real --url "$URL" "${split[@]}"
run python real "$PY" bench/python/real_lm.py --url "$URL" "${split[@]}"
fi

python3 bench/render.py BENCHMARKS.md bench/results.jsonl "$results"

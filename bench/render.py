"""Writes the side-by-side results of scripts/bench-vs-python.sh into BENCHMARKS.md.

Usage: python3 bench/render.py RESULTS.jsonl BENCHMARKS.md

RESULTS.jsonl holds one {"side", "measure", "result"} object per line. The section between
the markers below is replaced (appended at the end the first time); the rest of the file
is left as it is.
"""

import datetime
import json
import os
import platform
import subprocess
import sys

BEGIN = "<!-- vs-python:begin (written by scripts/bench-vs-python.sh) -->"
END = "<!-- vs-python:end -->"


def load(path):
    results = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                row = json.loads(line)
                results[(row["side"], row["measure"])] = row["result"]
    return results


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def command(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def ratio(slow, fast):
    """How many times `fast` beats `slow` (both costs, or both rates inverted by the caller)."""
    if not slow or not fast:
        return "–"
    return f"{slow / fast:,.1f}x"


def percent(score):
    """A score as a percentage: dspy-rs reports 0.5, Python DSPy 50.0."""
    if score is None:
        return float("nan")
    return score if score > 1 else 100 * score


def section(r):
    rs_over, py_over = r.get(("rust", "overhead"), {}), r.get(("python", "overhead"), {})
    lines = [
        "## Side by side with Python DSPy",
        "",
        f"Measured {datetime.date.today().isoformat()} on {os.cpu_count()} cores ({cpu_model()}),"
        f" {command(['rustc', '--version'])}, Python {platform.python_version()}, DSPy"
        f" {py_over.get('dspy', '3.4.1')}. Both sides do the same work through their public API"
        " (`examples/bench_vs_python.rs`, `bench/python/`) against one loopback stub LM server"
        " (`examples/bench_stub_server.rs`, answers at once); caches off. The ratio is Python's"
        " cost over dspy-rs's, in the same run.",
        "",
        "```text",
        "bash scripts/bench-vs-python.sh",
        "```",
        "",
        "Framework overhead per call, LM in process (format, call, parse), median of rounds:",
        "",
        "| per call | dspy-rs | Python DSPy | ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, name in [("predict_us", "`Predict`"), ("cot_us", "`ChainOfThought`")]:
        a, b = rs_over.get(key), py_over.get(key)
        lines.append(f"| {name} | {a or float('nan'):.1f} µs | {b or float('nan'):.1f} µs | {ratio(b, a)} |")
    lines += [
        "",
        "`Evaluate` over the same examples through HTTP (the stub server), by concurrency:",
        "",
        "| concurrency | dspy-rs examples/s | Python examples/s | ratio | dspy-rs p50 / p99 ms | Python p50 / p99 ms | dspy-rs / Python peak RSS |",
        "|---:|---:|---:|---:|---|---|---|",
    ]
    for c in (1, 8, 64):
        a, b = r.get(("rust", f"evaluate-{c}"), {}), r.get(("python", f"evaluate-{c}"), {})
        ta, tb = a.get("throughput"), b.get("throughput")
        lines.append(
            f"| {c} | {ta or 0:,.0f} | {tb or 0:,.0f} | {ratio(ta, tb)} |"
            f" {a.get('p50_ms', 0):.2f} / {a.get('p99_ms', 0):.2f} | {b.get('p50_ms', 0):.2f} / {b.get('p99_ms', 0):.2f} |"
            f" {a.get('peak_rss_mib', 0):.0f} / {b.get('peak_rss_mib', 0):.0f} MiB |"
        )
    ceiling = r.get(("server", "ceiling"), {})
    top = r.get(("rust", "evaluate-64"), {}).get("throughput")
    if ceiling.get("throughput") and top:
        lines += [
            "",
            f"The server's own ceiling (raw `reqwest` POSTs, 64 at a time): {ceiling['throughput']:,.0f} calls/s;"
            f" dspy-rs's `Evaluate` at 64 reaches {100 * top / ceiling['throughput']:.0f}% of it.",
        ]
    a, b = r.get(("rust", "compile"), {}), r.get(("python", "compile"), {})
    lines += [
        "",
        f"Compile wall time over {a.get('n', b.get('n', '?'))} examples (each compiled program then scored on them):",
        "",
        "| optimizer | dspy-rs | Python DSPy | ratio | dspy-rs / Python score |",
        "|---|---:|---:|---:|---|",
    ]
    for key, name in [("bootstrap", "BootstrapFewShot(4, 16)"), ("random_search", "BootstrapFewShotWithRandomSearch(4 candidates)")]:
        sa, sb = a.get(f"{key}_seconds"), b.get(f"{key}_seconds")
        lines.append(
            f"| {name} | {sa or float('nan'):.2f} s | {sb or float('nan'):.2f} s | {ratio(sb, sa)} |"
            f" {percent(a.get(f'{key}_score')):.0f}% / {percent(b.get(f'{key}_score')):.0f}% |"
        )
    a, b = r.get(("rust", "startup"), {}), r.get(("python", "startup"), {})
    lines += [
        "",
        "Start-up (a fresh process until the library is ready) and memory at rest:",
        "",
        "| | dspy-rs | Python DSPy | ratio |",
        "|---|---:|---:|---:|",
        f"| start-up (`import dspy` / the binary configuring an LM) | {1e3 * a.get('start_seconds', 0):.1f} ms | {1e3 * b.get('import_seconds', 0):.0f} ms | {ratio(b.get('import_seconds'), a.get('start_seconds'))} |",
        f"| bare process (`true` / `python -c pass`) | {1e3 * a.get('bare_seconds', 0):.1f} ms | {1e3 * b.get('bare_seconds', 0):.0f} ms | |",
        f"| resident memory at rest | {a.get('rss_mib', 0):.1f} MiB | {b.get('rss_mib', 0):.0f} MiB | {ratio(b.get('rss_mib'), a.get('rss_mib'))} |",
    ]
    return "\n".join(lines) + "\n"


def main():
    results = load(sys.argv[1])
    path = sys.argv[2]
    with open(path) as f:
        text = f.read()
    block = f"{BEGIN}\n{section(results)}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    print(section(results))


if __name__ == "__main__":
    main()

"""Writes the side-by-side results of scripts/bench-vs-python.sh into BENCHMARKS.md.

Usage: python3 bench/render.py BENCHMARKS.md bench/results.jsonl [NEW.jsonl]

A results file holds one {"side", "measure", "result"} object per line. NEW's results
replace those of the same side and measure in bench/results.jsonl (kept in the repository,
so a run of one half leaves the other half's last figures in place), which is rewritten;
then the section of BENCHMARKS.md between the markers below is replaced (appended at the
end the first time), the rest of the file left as it is, and bench/vs-python.svg is drawn
from the same results: the ratios against Python on a log scale with the targets marked,
and the dev scores before and after compiling on the real model.
"""

import datetime
import html
import json
import math
import os
import platform
import subprocess
import sys

BEGIN = "<!-- vs-python:begin (written by scripts/bench-vs-python.sh) -->"
END = "<!-- vs-python:end -->"


def load(path, results):
    if not os.path.exists(path):
        return results
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


def wilson(p, n, z=1.96):
    """The 95% Wilson interval of a proportion `p` of `n` trials, as percentages."""
    if not n:
        return float("nan"), float("nan")
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * max(0.0, centre - half), 100 * min(1.0, centre + half)


def fraction(score):
    """A score as a fraction: dspy-rs reports 0.5, Python DSPy's Evaluate 50.0."""
    return score / 100 if score is not None and score > 1 else score


def real_rows(r):
    """The real-model rows of each side by program name."""
    rows = {}
    for side in ("rust", "python"):
        for row in r.get((side, "real"), {}).get("rows", []):
            rows.setdefault(row["program"], {})[side] = row
    return rows


def real_section(r):
    rs, py = r.get(("rust", "real")), r.get(("python", "real"))
    if not rs and not py:
        return []
    info = rs or py
    lines = [
        "",
        f"The same real model, {info.get('model', '?')}, served over HTTP by `examples/serve_local.rs`"
        " (llama.cpp in process, one call at a time, temperature 0) and driven by both sides:"
        f" the movie-review classifier on the same {info.get('train', '?')} training and"
        f" {info.get('dev', '?')} dev examples (`bench_vs_python split`), scored by accuracy with"
        " its 95% Wilson interval, one call at a time on both sides. MIPROv2 light runs with each"
        " side's own defaults for that preset (on 40 examples: 8 to bootstrap from, 32 to score, 10"
        " trials). Neither side tells the server it takes JSON schemas (DSPy 3.4.1 knows no"
        " capabilities for this model; `OpenAiCompatible::new` declares none), so a reply that does"
        " not parse gets a second, free-text JSON call on both. One difference stays: dspy-rs sends"
        " `[[ ## completed ## ]]` as a stop sequence, so its replies end there; DSPy sends none.",
        "",
        "| program | dspy-rs dev | Python dev | dspy-rs compile | Python compile | compile time ratio | dspy-rs / Python dev time |",
        "|---|---|---|---|---|---:|---|",
    ]
    for program, sides in real_rows(r).items():
        a, b = sides.get("rust", {}), sides.get("python", {})
        label = (a or b).get("label", program)

        def dev(row):
            if not row:
                return "–"
            if row.get("score") is None:
                return f"failed: {' '.join(str(row.get('error', '?')).split())[:120]}"
            p = fraction(row["score"])
            lo, hi = wilson(p, row["dev"])
            failed = f", {row['failed']} failed" if row.get("failed") else ""
            return f"{100 * p:.1f}% ({lo:.1f}–{hi:.1f}){failed}"

        def cost(row):
            if not row or program == "uncompiled" or row.get("compile_seconds") is None:
                return "–"
            until = " until it failed" if row.get("score") is None else ""
            return f"{row['compile_calls']} calls, {row['compile_seconds']:.0f} s{until}"

        both = a.get("score") is not None and b.get("score") is not None
        time_ratio = ratio(b.get("compile_seconds"), a.get("compile_seconds")) if program != "uncompiled" and both else "–"
        secs = lambda row: f"{row['dev_seconds']:.0f}" if row.get("dev_seconds") is not None else "–"
        lines.append(
            f"| {label} | {dev(a)} | {dev(b)} | {cost(a)} | {cost(b)} | {time_ratio} |"
            f" {secs(a)} / {secs(b)} s |"
        )
    return lines


def targets(r):
    """The comparison's targets, what was measured, and whether it meets them."""
    rows = []
    a, b = r.get(("rust", "overhead"), {}), r.get(("python", "overhead"), {})
    if a and b:
        worst = min(b["predict_us"] / a["predict_us"], b["cot_us"] / a["cot_us"])
        rows.append(("per-call overhead ≥ 100× below Python's", f"{worst:.0f}× (the lower of Predict, ChainOfThought)", worst >= 100))
    a, b = r.get(("rust", "evaluate-64"), {}), r.get(("python", "evaluate-64"), {})
    if a.get("throughput") and b.get("throughput"):
        x = a["throughput"] / b["throughput"]
        rows.append(("`Evaluate` at 64 ≥ 20× Python's throughput", f"{x:.0f}×", x >= 20))
    share = r.get(("rust", "evaluate-64"), {}).get("of_ceiling")
    if share is not None:
        rows.append(("`Evaluate` at 64 within 10% of the server's ceiling", f"{100 * share:.0f}% of it", share >= 0.9))
    a, b = r.get(("rust", "compile"), {}), r.get(("python", "compile"), {})
    for key, name in [("bootstrap", "BootstrapFewShot"), ("random_search", "random search")]:
        if a.get(f"{key}_seconds") is not None and b.get(f"{key}_seconds"):
            faster = a[f"{key}_seconds"] < b[f"{key}_seconds"]
            same = fraction(a[f"{key}_score"]) >= fraction(b[f"{key}_score"])
            rows.append((f"{name} (stub): faster, score equal or better", f"{ratio(b[f'{key}_seconds'], a[f'{key}_seconds'])}, {100 * fraction(a[f'{key}_score']):.0f}% vs {100 * fraction(b[f'{key}_score']):.0f}%", faster and same))
    for program, sides in real_rows(r).items():
        x, y = sides.get("rust"), sides.get("python")
        if program == "uncompiled" or not x or not y:
            continue
        failed = [name for name, row in (("dspy-rs", x), ("Python", y)) if row.get("score") is None]
        if failed:
            rows.append((
                f"{x.get('label', program)} (real model): faster, dev score equal or better",
                f"{' and '.join(failed)} compile failed ({' '.join(str((x if x.get('score') is None else y).get('error', '?')).split())[:80]})",
                None,
            ))
            continue
        faster = x["compile_seconds"] < y["compile_seconds"]
        same = fraction(x["score"]) >= fraction(y["score"])
        rows.append((
            f"{x.get('label', program)} (real model): faster, dev score equal or better",
            f"{ratio(y['compile_seconds'], x['compile_seconds'])}, {100 * fraction(x['score']):.1f}% vs {100 * fraction(y['score']):.1f}%",
            faster and same,
        ))
    if not rows:
        return []
    lines = ["", "Against the targets of the comparison:", "", "| target | measured | met |", "|---|---|---|"]
    verdict = {True: "yes", False: "**no**", None: "–"}
    lines += [f"| {t} | {m} | {verdict[ok]} |" for t, m, ok in rows]
    return lines


def chart(r):
    """An SVG: ratios against Python (log scale, targets marked) and real-model scores."""
    bars = []
    a, b = r.get(("rust", "overhead"), {}), r.get(("python", "overhead"), {})
    for key, name in [("predict_us", "Predict overhead"), ("cot_us", "ChainOfThought overhead")]:
        if a.get(key) and b.get(key):
            bars.append((name, b[key] / a[key], 100))
    for c in (1, 8, 64):
        x, y = r.get(("rust", f"evaluate-{c}"), {}), r.get(("python", f"evaluate-{c}"), {})
        if x.get("throughput") and y.get("throughput"):
            bars.append((f"Evaluate @{c}", x["throughput"] / y["throughput"], 20 if c == 64 else None))
    x, y = r.get(("rust", "compile"), {}), r.get(("python", "compile"), {})
    for key, name in [("bootstrap", "BootstrapFewShot (stub)"), ("random_search", "random search (stub)")]:
        if x.get(f"{key}_seconds") and y.get(f"{key}_seconds"):
            bars.append((name, y[f"{key}_seconds"] / x[f"{key}_seconds"], 1))
    for program, sides in real_rows(r).items():
        p, q = sides.get("rust"), sides.get("python")
        compiled = p and q and p.get("score") is not None and q.get("score") is not None
        if program != "uncompiled" and compiled and p.get("compile_seconds") and q.get("compile_seconds"):
            bars.append((f"{p.get('label', program).split('(')[0]} (real model)", q["compile_seconds"] / p["compile_seconds"], 1))
    x, y = r.get(("rust", "startup"), {}), r.get(("python", "startup"), {})
    if x.get("start_seconds") and y.get("import_seconds"):
        bars.append(("start-up", y["import_seconds"] / x["start_seconds"], None))

    width, left, right, row_h, top = 760, 210, 40, 26, 50
    scores = real_rows(r)
    plot_w = width - left - right
    height_bars = top + row_h * len(bars) + 40
    height = height_bars + (60 + 24 * 3 * len(scores) if scores else 0)
    hi = max([v for _, v, _ in bars] + [100]) * 1.5
    xs = lambda v: left + plot_w * math.log10(max(v, 0.5) / 0.5) / math.log10(hi / 0.5)
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">dspy-rs against Python DSPy 3.4.1, same work, same run: times faster (log scale)</text>',
    ]
    for tick in (1, 10, 100, 1000):
        if tick < hi:
            out.append(f'<line x1="{xs(tick):.1f}" y1="{top - 6}" x2="{xs(tick):.1f}" y2="{top + row_h * len(bars)}" stroke="#ccc"/>')
            out.append(f'<text x="{xs(tick):.1f}" y="{top + row_h * len(bars) + 16}" text-anchor="middle" fill="#555">{tick}×</text>')
    for i, (name, value, target) in enumerate(bars):
        y0 = top + i * row_h
        met = target is None or value >= target
        colour = "#3b7dd8" if met else "#e0803a"
        out.append(f'<text x="{left - 8}" y="{y0 + 16}" text-anchor="end">{esc(name)}</text>')
        out.append(f'<rect x="{xs(0.5):.1f}" y="{y0 + 4}" width="{xs(value) - xs(0.5):.1f}" height="{row_h - 8}" fill="{colour}"/>')
        out.append(f'<text x="{xs(value) + 4:.1f}" y="{y0 + 16}">{value:,.1f}×</text>')
        if target:
            out.append(f'<line x1="{xs(target):.1f}" y1="{y0 + 1}" x2="{xs(target):.1f}" y2="{y0 + row_h - 1}" stroke="black" stroke-width="2" stroke-dasharray="3,2"/>')
    out.append(f'<text x="{left}" y="{top + row_h * len(bars) + 32}" fill="#555">dashed: the target; orange: a bar short of its target</text>')
    if scores:
        y0 = height_bars + 30
        out.append(f'<text x="10" y="{y0}" font-size="15" font-weight="bold">Dev accuracy on the same real model, before and after compiling</text>')
        sx = lambda v: left + plot_w * v
        y0 += 14
        for program, sides in scores.items():
            for side, colour in (("rust", "#3b7dd8"), ("python", "#8a8a8a")):
                row = sides.get(side)
                if not row or row.get("score") is None:
                    continue
                p = fraction(row["score"])
                lo, hi95 = wilson(p, row["dev"])
                label = f"{row.get('label', program).split('(')[0].strip()} ({'dspy-rs' if side == 'rust' else 'Python'})"
                out.append(f'<text x="{left - 8}" y="{y0 + 15}" text-anchor="end">{esc(label)}</text>')
                out.append(f'<rect x="{left}" y="{y0 + 4}" width="{sx(p) - left:.1f}" height="16" fill="{colour}"/>')
                out.append(f'<line x1="{sx(lo / 100):.1f}" y1="{y0 + 12}" x2="{sx(hi95 / 100):.1f}" y2="{y0 + 12}" stroke="black"/>')
                out.append(f'<text x="{sx(1) + 4:.1f}" y="{y0 + 15}">{100 * p:.1f}%</text>')
                y0 += 24
            y0 += 24
        out.append(f'<text x="{left}" y="{y0}" fill="#555">black line: 95% Wilson interval</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


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
        "`Evaluate` over the same examples through HTTP (the stub server), by concurrency"
        " (dspy-rs: the median of rounds, as a round of 10,000 takes under a second; Python: one"
        " run, which takes a minute or more):",
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
    top = r.get(("rust", "evaluate-64"), {})
    share = top.get("of_ceiling")
    if share is not None:
        lines += [
            "",
            "The server's own ceiling: raw `reqwest` POSTs of the request `Predict` sends (the same"
            " messages, byte for byte), 64 at a time, each body built as its call starts; one round in"
            " a fresh child process, after a warm-up round not counted, right after each `Evaluate`"
            f" round, so that the two see the same machine: {top['ceiling_throughput']:,.0f} calls/s"
            " (median of rounds)."
            f" dspy-rs's `Evaluate` at 64 reaches {100 * share:.0f}% of it (the median of the rounds' shares;"
            f" rounds: {', '.join(f'{x:.3f}' for x in top['round_seconds'])} s against"
            f" {', '.join(f'{x:.3f}' for x in top['ceiling_round_seconds'])} s)"
            + (
                f"; of three such processes, the one with the median share (their shares:"
                f" {', '.join(f'{100 * x:.0f}%' for x in top['process_shares'])})."
                if top.get("process_shares")
                else "."
            ),
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
    lines += real_section(r)
    lines += targets(r)
    lines += ["", "![The ratios against Python DSPy, and dev scores before and after compiling](bench/vs-python.svg)"]
    return "\n".join(lines) + "\n"


def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main():
    path, kept = sys.argv[1], sys.argv[2]
    results = load(kept, {})
    for new in sys.argv[3:]:
        results = load(new, results)
    write_atomically(kept, "".join(
        json.dumps({"side": side, "measure": measure, "result": result}) + "\n"
        for (side, measure), result in results.items()
    ))
    svg = os.path.join(os.path.dirname(os.path.abspath(kept)), "vs-python.svg")
    write_atomically(svg, chart(results))
    with open(path) as f:
        text = f.read()
    block = f"{BEGIN}\n{section(results)}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    write_atomically(path, text)
    print(section(results))


if __name__ == "__main__":
    main()

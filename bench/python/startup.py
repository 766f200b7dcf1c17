"""Cold-process start-up cost of `import dspy`, against a bare interpreter.

    python startup.py --rounds 5

Each round runs a fresh child with the same interpreter (sys.executable):
    python -c "import dspy; <print VmRSS>"   and   python -c "<print VmRSS>"
timing the whole child process (start, import, exit) with perf_counter, and the
child reports its own VmRSS (resident set after the import) and VmHWM (peak)
from /proc/self/status. One untimed warm-up run of each comes first, so .pyc
files and the OS page cache are warm. Medians over rounds are reported.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PROBE = (
    "import json, sys\n"
    "s = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
    "kib = lambda k: int(s[k].split()[0])\n"
    "sys.stdout.write(json.dumps({'rss_kib': kib('VmRSS'), 'hwm_kib': kib('VmHWM')}))\n"
)


def run_child(code, env):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if out.stderr.strip():
        print(out.stderr.strip(), file=sys.stderr)
    return dt, json.loads(out.stdout.strip().splitlines()[-1])


def measure(code, rounds, env, tag):
    run_child(code, env)  # warm-up
    times, rss, hwm = [], [], []
    for r in range(rounds):
        dt, mem = run_child(code, env)
        times.append(dt)
        rss.append(mem["rss_kib"] / 1024.0)
        hwm.append(mem["hwm_kib"] / 1024.0)
        print(f"{tag} round {r}: {dt * 1e3:.1f} ms, VmRSS {rss[-1]:.1f} MiB, VmHWM {hwm[-1]:.1f} MiB", file=sys.stderr)
    return statistics.median(times), statistics.median(rss), statistics.median(hwm)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    env = dict(os.environ)
    env["DSPY_CACHEDIR"] = cache_dir = tempfile.mkdtemp(prefix="dspy-bench-cache-")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        imp_s, imp_rss, imp_hwm = measure("import dspy\n" + PROBE, args.rounds, env, "import dspy")
        bare_s, bare_rss, bare_hwm = measure(PROBE, args.rounds, env, "bare")
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)

    print(json.dumps({
        "import_seconds": round(imp_s, 4),
        "bare_seconds": round(bare_s, 4),
        "rss_mib": round(imp_rss, 1),
        "bare_rss_mib": round(bare_rss, 1),
        "peak_rss_mib": round(imp_hwm, 1),
        "bare_peak_rss_mib": round(bare_hwm, 1),
        "rounds": args.rounds,
        "python": sys.executable,
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())

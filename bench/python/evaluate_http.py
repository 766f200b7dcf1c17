"""dspy.Evaluate over N QA examples against the OpenAI-compatible stub server.

    python evaluate_http.py --url http://127.0.0.1:PORT/v1 --n 10000 --concurrency 64

Per-LM-call latency comes from DSPy's callback API: a BaseCallback attached to the
LM instance (dspy.LM(callbacks=[...])) records perf_counter at on_lm_start and
on_lm_end. So each sample is the whole LM.__call__: DSPy's request preparation,
the native lm15 engine's HTTP round trip, response conversion and history -- not
adapter format/parse, which happen outside LM.__call__.
"""

import argparse
import sys
import threading
import time

import common  # sets DSPY_CACHEDIR before dspy is imported
import dspy
from dspy.utils.callback import BaseCallback


class LMLatency(BaseCallback):
    def __init__(self):
        self.lock = threading.Lock()
        self.started = {}
        self.samples = []
        self.errors = 0

    def on_lm_start(self, call_id, instance, inputs):
        self.started[call_id] = time.perf_counter()  # dict set is atomic under the GIL

    def on_lm_end(self, call_id, outputs, exception=None):
        t1 = time.perf_counter()
        t0 = self.started.pop(call_id, None)
        with self.lock:
            if exception is not None:
                self.errors += 1
            elif t0 is not None:
                self.samples.append(t1 - t0)


def engine_kind(lm):
    kinds = sorted({type(e).__name__ for e in getattr(lm, "_engine_store", {}).values()})
    return ",".join(kinds) or "none-pooled (LiteLLM or custom)"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default=None, help="stub base URL (default: contents of /tmp/stub.url)")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8, help="Evaluate num_threads")
    ap.add_argument("--model", default=common.STUB_MODEL,
                    help="model string sent to the stub (it answers any); see README on pricing lookups")
    args = ap.parse_args()
    url = common.read_stub_url(args.url)

    common.disable_cache()
    latency = LMLatency()
    lm = common.stub_lm(url, args.model, callbacks=[latency])
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())

    devset = common.make_examples(args.n)
    program = dspy.Predict(common.QA)
    evaluate = dspy.Evaluate(
        devset=devset,
        metric=common.exact_match,
        num_threads=args.concurrency,
        display_progress=False,
        display_table=False,
        # A benchmark counts failures rather than aborting after 10 (the default).
        max_errors=args.n + 1,
    )

    t0 = time.perf_counter()
    result = evaluate(program)
    seconds = time.perf_counter() - t0

    # Evaluate turns a failed example into (dspy.Prediction(), failure_score).
    failed = sum(1 for _ex, pred, _s in result.results if "answer" not in pred)
    samples = sorted(latency.samples)
    common.log(f"engine: {engine_kind(lm)}; lm calls timed: {len(samples)}; lm errors: {latency.errors}; "
             f"litellm imported: {'litellm' in sys.modules}")
    common.check_cache_unused()
    common.emit({
        "n": args.n,
        "concurrency": args.concurrency,
        "seconds": round(seconds, 4),
        "throughput": round(args.n / seconds, 2),
        "p50_ms": round(common.percentile(samples, 50) * 1e3, 3) if samples else None,
        "p99_ms": round(common.percentile(samples, 99) * 1e3, 3) if samples else None,
        "peak_rss_mib": round(common.peak_rss_mib(), 1),
        "score": result.score,
        "failed": failed,
    })


if __name__ == "__main__":
    sys.exit(main())

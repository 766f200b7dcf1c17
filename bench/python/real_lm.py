"""The Python DSPy half of the same-real-model comparison: the movie-review classifier
uncompiled, compiled by BootstrapFewShot and by MIPROv2 (auto="light"), each scored on a
dev set, against an OpenAI-compatible server (examples/serve_local.rs: gemma-3-270m,
one call at a time).

    python real_lm.py --url http://127.0.0.1:PORT/v1 --train train.jsonl --dev dev.jsonl

The train and dev files are the ones `bench_vs_python split` writes: JSONL, one
{"review": str, "sentiment": "positive"|"negative", ...} per line (other keys ignored).

LM calls are counted by a BaseCallback attached to the task LM and to the prompt LM
(`dspy.LM(callbacks=[...])`); see CallCounter for why not `LM.history`.

A compile that raises (MIPROv2 does once 10 of one bootstrap's teacher runs fail to
parse, its default max_errors) gives a row with "error" and nulls; the other rows run.

DSPy's optimizers print progress with print() and tqdm; stdout is redirected to stderr
while they run so that the JSON object stays the only line on stdout.
"""

import argparse
import contextlib
import json
import math
import sys
import threading
import time
from typing import Literal

import common  # sets DSPY_CACHEDIR before dspy is imported
import dspy
from dspy.clients import base_lm
from dspy.teleprompt import MIPROv2, BootstrapFewShot
from dspy.utils.callback import BaseCallback

MAX_TOKENS = 48           # per classifier call: a label needs ~15 tokens (as the Rust side)
PROMPT_MAX_TOKENS = 160   # per proposer call (the Rust side's proposal_max_tokens(160))
LABELS = {
    "uncompiled": "uncompiled",
    "bootstrap": "BootstrapFewShot(4 boot, 8 max)",
    "mipro": "MIPROv2(auto light)",
}


class Classify(dspy.Signature):
    """Classify the sentiment of a movie review."""

    review: str = dspy.InputField()
    sentiment: Literal["positive", "negative"] = dspy.OutputField()


def make_program():
    # Predict(signature, **config): the config is the LM kwargs of every call this
    # predictor makes (merged under a call's own `config=`), and it survives the
    # optimizers' deepcopy()/reset_copy() (reset() clears lm/traces/train/demos only).
    return dspy.Predict(Classify, max_tokens=MAX_TOKENS)


def metric(example, prediction, trace=None):
    return example.sentiment == prediction.sentiment


class CallCounter(BaseCallback):
    """Counts every `LM.__call__`/`LM.acall` of the LMs it is attached to.

    Why a callback and not `len(lm.history)` before/after:
    - `BaseLM.copy()` gives the copy a fresh, empty `history` but the SAME callback
      objects (a new list holding them). MIPROv2's instruction proposer calls a copy,
      `prompt_model.copy(rollout_id=..., temperature=init_temperature)`, so those calls
      never reach `prompt_lm.history`; they do reach this counter.
    - history is trimmed at `settings.max_history_size` (10,000, with `pop(0)`) and
      skipped entirely under `disable_history`; a counter has no cap.
    - a call that raises (HTTP or engine error) records no history; `on_lm_end` still
      fires, with the exception.
    One count is one `LM.__call__`: a ChatAdapter parse failure makes two (the
    JSONAdapter fallback is a second call). A transient HTTP error retried inside the
    call (`num_retries`, default 3) stays one call; a local server gives none.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = 0
        self.errors = 0

    def on_lm_end(self, call_id, outputs, exception=None):
        with self.lock:
            self.calls += 1
            if exception is not None:
                self.errors += 1

    def snapshot(self):
        with self.lock:
            return self.calls, self.errors


def read_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out.append(dspy.Example(review=row["review"], sentiment=row["sentiment"]).with_inputs("review"))
    return out


def wilson(p, n, z=1.96):
    """Wilson score interval of a proportion p observed over n trials, as fractions."""
    if n == 0:
        return [0.0, 1.0]
    z2 = z * z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return [max(0.0, center - half), min(1.0, center + half)]


def calls_of(counters):
    return sum(c.snapshot()[0] for c in counters)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="base URL of the OpenAI-compatible server")
    ap.add_argument("--train", required=True, help="training set, JSONL")
    ap.add_argument("--dev", required=True, help="dev set, JSONL")
    ap.add_argument("--model", default="openai/gemma-3-270m")
    ap.add_argument("--programs", default="uncompiled,bootstrap,mipro",
                    help="comma list of: uncompiled, bootstrap, mipro")
    ap.add_argument("--threads", type=int, default=1,
                    help="num_threads of Evaluate and of MIPROv2 (BootstrapFewShot has none: it runs sequentially)")
    ap.add_argument("--seed", type=int, default=9, help="MIPROv2's seed")
    args = ap.parse_args()
    programs = [p.strip() for p in args.programs.split(",") if p.strip()]
    for p in programs:
        if p not in LABELS:
            ap.error(f"unknown program {p!r}: {' | '.join(LABELS)}")

    common.disable_cache()
    task_calls, prompt_calls = CallCounter(), CallCounter()
    counters = (task_calls, prompt_calls)
    # engine="auto": an openai/ model with api_base goes to DSPy's native lm15 engine.
    task_lm = dspy.LM(args.model, api_base=args.url, api_key="local", temperature=0.0,
                      cache=False, callbacks=[task_calls])
    # The proposer's LM: no temperature, so DSPy's own apply (GroundedProposer copies it
    # at init_temperature=1.0 for instructions; the dataset summarizer asks 1.0 per call).
    prompt_lm = dspy.LM(args.model, api_base=args.url, api_key="local", max_tokens=PROMPT_MAX_TOKENS,
                        cache=False, callbacks=[prompt_calls])
    dspy.configure(lm=task_lm, adapter=dspy.ChatAdapter())

    train, dev = read_jsonl(args.train), read_jsonl(args.dev)
    common.log(f"python real: {args.model} at {args.url}; train {len(train)}, dev {len(dev)}, "
               f"threads {args.threads}, programs {','.join(programs)}")

    evaluate = dspy.Evaluate(devset=dev, metric=metric, num_threads=args.threads, display_progress=False,
                             display_table=False,
                             # count failures instead of aborting after dspy.settings.max_errors (10)
                             max_errors=len(dev) + 1)

    rows = []
    with contextlib.redirect_stdout(sys.stderr):
        for name in programs:
            error = None
            calls0, prompt0, hist0 = calls_of(counters), prompt_calls.snapshot()[0], len(base_lm.GLOBAL_HISTORY)
            t0 = time.perf_counter()
            try:
                if name == "uncompiled":
                    compiled = make_program()
                elif name == "bootstrap":
                    # No num_threads in BootstrapFewShot (3.4.1): it bootstraps one example at a time.
                    bfs = BootstrapFewShot(metric=metric, max_bootstrapped_demos=4, max_labeled_demos=8,
                                           max_errors=40)
                    compiled = bfs.compile(make_program(), trainset=train)
                else:
                    # auto="light" sets num_candidates/num_trials itself (passing either raises);
                    # no valset: MIPROv2 takes the last 80% of trainset as its valset. 3.4.1 has no
                    # confirmation prompt (requires_permission_to_run is deprecated; not passed).
                    # max_errors left at DSPy's default (dspy.settings.max_errors, 10), as the Rust side:
                    # one of its BootstrapFewShot runs raises once 10 teacher runs fail to parse.
                    mipro = MIPROv2(metric=metric, prompt_model=prompt_lm, auto="light",
                                    num_threads=args.threads, seed=args.seed)
                    compiled = mipro.compile(make_program(), trainset=train)
            except Exception as e:  # keep the other rows: report this one as an error
                error = f"{type(e).__name__}: {e}"
                common.log(f"python {name}: compile failed: {error}")
                compiled = None
            compile_seconds = time.perf_counter() - t0 if name != "uncompiled" else 0.0
            compile_calls = calls_of(counters) - calls0  # task LM + prompt LM (and their copies)
            compile_prompt_calls = prompt_calls.snapshot()[0] - prompt0
            # A cross-check only: the global history (all LMs, copies too) records each call
            # that got a response, and is trimmed at 10,000 entries.
            hist_delta = len(base_lm.GLOBAL_HISTORY) - hist0
            if compiled is None:
                # Same keys as a scored row, null where nothing was measured, plus "error".
                rows.append({"program": name, "label": LABELS[name], "score": None, "ci95": None,
                             "dev": len(dev), "failed": None, "dev_calls": None, "dev_seconds": None,
                             "compile_calls": compile_calls, "compile_prompt_calls": compile_prompt_calls,
                             "compile_seconds": round(compile_seconds, 3), "demos": None,
                             "instruction": None, "error": error})
                continue

            dcalls0 = calls_of(counters)
            t0 = time.perf_counter()
            result = evaluate(compiled)
            dev_seconds = time.perf_counter() - t0
            dev_calls = calls_of(counters) - dcalls0

            # Evaluate replaces a failed example (the program raised, e.g. AdapterParseError
            # after the JSON fallback too) with (dspy.Prediction(), failure_score): an empty
            # Prediction. A wrong but parsed label keeps its `sentiment` key.
            failed = sum(1 for _ex, pred, _s in result.results if "sentiment" not in pred)
            n = len(result.results)
            # A fraction from the per-example scores (EvaluationResult.score is a percentage
            # rounded to 2 places).
            score = sum(float(s) for _ex, _pred, s in result.results) / n if n else 0.0
            pred = compiled.predictors()[0]
            row = {
                "program": name,
                "label": LABELS[name],
                "score": score,
                "ci95": wilson(score, n),
                "dev": n,
                "failed": failed,
                "dev_calls": dev_calls,
                "dev_seconds": round(dev_seconds, 3),
                "compile_calls": compile_calls,
                "compile_prompt_calls": compile_prompt_calls,
                "compile_seconds": round(compile_seconds, 3),
                "demos": len(pred.demos),
                "instruction": pred.signature.instructions,
            }
            rows.append(row)
            common.log(f"python {name}: {100 * score:.1f}% on {n} dev ({failed} failed, {dev_calls} calls, "
                       f"{dev_seconds:.1f} s); compile {compile_calls} calls "
                       f"({compile_prompt_calls} by the prompt LM; global history grew {hist_delta}), {compile_seconds:.1f} s; demos {row['demos']}")

    task_total, task_err = task_calls.snapshot()
    prompt_total, prompt_err = prompt_calls.snapshot()
    common.log(f"LM calls: task {task_total} ({task_err} raised), prompt {prompt_total} ({prompt_err} raised); "
               f"engine {','.join(sorted({type(e).__name__ for e in task_lm._engine_store.values()})) or '?'}; "
               f"litellm imported: {'litellm' in sys.modules}")
    common.check_cache_unused()
    common.emit({
        "side": "python",
        "dspy": dspy.__version__,
        "model": args.model,
        "train": len(train),
        "dev": len(dev),
        "threads": args.threads,
        "rows": rows,
    })


if __name__ == "__main__":
    sys.exit(main())

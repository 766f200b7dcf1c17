"""Framework overhead per call with an in-process LM that answers instantly.

    python overhead.py --n 1000 --rounds 5

The LM is a dspy.LM with a custom *engine* (DSPy 3.4's supported way to plug in a
backend: an object with complete(Request) -> Response, passed as dspy.LM(engine=...)).
No HTTP, no LiteLLM. Each call still goes through everything DSPy does for a real LM:
callbacks hook, Predict preprocessing, ChatAdapter.format, LM.__call__ (prepare ->
canonical lm15 Request -> engine -> CallResult -> finalize/history), ChatAdapter.parse,
Prediction, trace.
"""

import argparse
import platform
import statistics
import sys
import time

import common  # sets DSPY_CACHEDIR before dspy is imported
import dspy
from dspy.lm15 import Message, Response, TextPart, Usage

PREDICT_TEXT = "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"
COT_TEXT = "[[ ## reasoning ## ]]\nBecause the stub says so.\n\n[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"


class InstantEngine:
    """A canonical DSPy 3.4 engine: one lm15 Request in, one lm15 Response out.

    It ignores the request and answers a fixed completion. A fresh Response is
    built per call (as any real engine does); that costs ~1-2 µs.
    """

    def __init__(self, text):
        self.text = text

    def complete(self, request):
        return Response(
            id=None,
            model=request.model,
            message=Message.assistant([TextPart(self.text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=0, output_tokens=0, total_tokens=0),
        )

    def close(self):
        pass


def reset_growing_state(lm):
    """Clear history/trace between rounds (outside the timed region).

    History stays ON during a round (it is part of what a call costs), but DSPy
    keeps it in lists capped at 10,000 entries with list.pop(0); clearing between
    rounds keeps every round identical instead of letting later rounds pay for
    earlier ones.
    """
    from dspy.clients import base_lm

    lm.history.clear()
    base_lm.GLOBAL_HISTORY.clear()
    if dspy.settings.trace is not None:
        dspy.settings.trace.clear()


def time_module(module, lm, n, rounds, tag):
    questions = [f"What is {i} times 7?" for i in range(n)]
    expected = "42"
    # Warm-up round (not counted), also checks the answer parses.
    for q in questions:
        out = module(question=q)
    assert out.answer == expected, (tag, out)
    reset_growing_state(lm)
    per_call = []
    for r in range(rounds):
        t0 = time.perf_counter()
        for q in questions:
            module(question=q)
        dt = time.perf_counter() - t0
        per_call.append(dt / n * 1e6)
        common.log(f"{tag} round {r}: {per_call[-1]:.1f} us/call ({n} calls, {dt:.3f} s)")
        reset_growing_state(lm)
    return statistics.median(per_call)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000, help="calls per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-history", action="store_true",
                    help="dspy.configure(disable_history=True): skip LM history entries")
    args = ap.parse_args()

    common.disable_cache()
    if args.no_history:
        dspy.configure(disable_history=True)

    results = {}
    for tag, text, make in (
        ("predict", PREDICT_TEXT, lambda: dspy.Predict(common.QA)),
        ("cot", COT_TEXT, lambda: dspy.ChainOfThought(common.QA)),
    ):
        lm = dspy.LM("instant", engine=InstantEngine(text), cache=False)
        dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
        results[tag] = time_module(make(), lm, args.n, args.rounds, tag)

    common.check_cache_unused()
    common.emit({
        "predict_us": round(results["predict"], 2),
        "cot_us": round(results["cot"], 2),
        "n": args.n,
        "rounds": args.rounds,
        "history": not args.no_history,
        "dspy": dspy.__version__,
        "python": platform.python_version(),
    })


if __name__ == "__main__":
    sys.exit(main())

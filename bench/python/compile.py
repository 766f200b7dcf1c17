"""Wall time of BootstrapFewShot and BootstrapFewShotWithRandomSearch compiling
dspy.Predict(QA) on N examples against the stub server, plus each compiled
program's dspy.Evaluate score on the same N examples.

    python compile.py --url http://127.0.0.1:PORT/v1 --n 200

DSPy's optimizers print progress with print() and tqdm; stdout is redirected to
stderr while they run so that the JSON object stays the only line on stdout.
"""

import argparse
import contextlib
import sys
import time

import common  # sets DSPY_CACHEDIR before dspy is imported
import dspy
from dspy.teleprompt import BootstrapFewShot, BootstrapFewShotWithRandomSearch


def score(program, devset, threads):
    evaluate = dspy.Evaluate(devset=devset, metric=common.exact_match, num_threads=threads,
                             display_progress=False, display_table=False, max_errors=len(devset) + 1)
    return evaluate(program).score


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", default=None, help="stub base URL (default: contents of /tmp/stub.url)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--eval-threads", type=int, default=8, help="num_threads of the scoring Evaluate (untimed)")
    ap.add_argument("--model", default=common.STUB_MODEL,
                    help="model string sent to the stub (it answers any); see README on pricing lookups")
    args = ap.parse_args()
    url = common.read_stub_url(args.url)

    common.disable_cache()
    dspy.configure(lm=common.stub_lm(url, args.model), adapter=dspy.ChatAdapter())
    trainset = common.make_examples(args.n)

    with contextlib.redirect_stdout(sys.stderr):
        bfs = BootstrapFewShot(metric=common.exact_match, max_bootstrapped_demos=4, max_labeled_demos=16)
        t0 = time.perf_counter()
        compiled_bfs = bfs.compile(dspy.Predict(common.QA), trainset=trainset)
        bootstrap_seconds = time.perf_counter() - t0
        bootstrap_score = score(compiled_bfs, trainset, args.eval_threads)
        common.log(f"BootstrapFewShot: {bootstrap_seconds:.3f} s, demos={len(compiled_bfs.demos)}, score={bootstrap_score}")

        rs = BootstrapFewShotWithRandomSearch(metric=common.exact_match, num_candidate_programs=4,
                                              max_bootstrapped_demos=4, max_labeled_demos=16, num_threads=8)
        t0 = time.perf_counter()
        compiled_rs = rs.compile(dspy.Predict(common.QA), trainset=trainset)
        random_search_seconds = time.perf_counter() - t0
        random_search_score = score(compiled_rs, trainset, args.eval_threads)
        common.log(f"RandomSearch: {random_search_seconds:.3f} s, demos={len(compiled_rs.demos)}, "
                   f"candidates={len(compiled_rs.candidate_programs)}, score={random_search_score}")

    common.check_cache_unused()
    common.emit({
        "n": args.n,
        "bootstrap_seconds": round(bootstrap_seconds, 4),
        "bootstrap_score": bootstrap_score,
        "random_search_seconds": round(random_search_seconds, 4),
        "random_search_score": random_search_score,
    })


if __name__ == "__main__":
    sys.exit(main())

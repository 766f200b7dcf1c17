"""Shared pieces of the Python-side benchmarks (DSPy 3.4.1).

Import this module BEFORE importing dspy anywhere else: it points DSPY_CACHEDIR at
a fresh temporary directory, so that even if something did touch DSPy's disk cache
it would not read or write ~/.dspy_cache.
"""

import atexit
import json
import os
import shutil
import sys
import tempfile
import warnings

_CACHE_DIR = tempfile.mkdtemp(prefix="dspy-bench-cache-")
os.environ["DSPY_CACHEDIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)
# LiteLLM is never on the path we take (engine="auto" -> native lm15 for an
# openai/ model with api_base), but keep it from phoning home if it is imported.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

# Show DeprecationWarnings raised from DSPy (Python hides them by default outside
# __main__), so that a run says loudly if we use a deprecated path.
warnings.filterwarnings("default", category=DeprecationWarning, module=r"dspy(\.|$)")
warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")

import dspy  # noqa: E402


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def emit(obj):
    """The one JSON object each script prints, as the last line of stdout."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def disable_cache():
    """Turn DSPy's response cache off: memory and disk.

    dspy.LM(cache=False) already skips the cache lookup/store per call;
    configure_cache(False, False) additionally replaces the global dspy.cache
    with one that has neither an LRU memory cache nor a diskcache FanoutCache,
    so nothing can be stored even by a component that ignores LM.cache.
    """
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    c = dspy.cache
    assert not c.enable_disk_cache and not c.enable_memory_cache, "cache still on"
    assert isinstance(c.memory_cache, dict) and isinstance(c.disk_cache, dict), "cache still has a store"


def check_cache_unused():
    """After a run: the global cache holds nothing and the temp cache dir is empty."""
    c = dspy.cache
    assert len(c.memory_cache) == 0 and len(c.disk_cache) == 0, "something was cached"
    leftovers = []
    for root, _dirs, files in os.walk(_CACHE_DIR):
        leftovers += [os.path.join(root, f) for f in files]
    assert not leftovers, f"files appeared in DSPY_CACHEDIR: {leftovers[:5]}"


class QA(dspy.Signature):
    """Answer the question."""

    question: str = dspy.InputField()
    answer: str = dspy.OutputField()


def make_examples(n):
    return [
        dspy.Example(
            question=f"What is {i} times 7?",
            answer="42" if i % 2 == 0 else str(i * 7),
        ).with_inputs("question")
        for i in range(n)
    ]


def exact_match(example, prediction, trace=None):
    return prediction.answer == example.answer


STUB_MODEL = "openai/stub"


def stub_lm(url, model=STUB_MODEL, **kwargs):
    """dspy.LM pointed at the OpenAI-compatible stub server, cache off.

    engine="auto" (the default) routes an openai/ model with api_base to DSPy's
    native lm15 engine (LM15Engine, stdlib HTTP with keep-alive); LiteLLM is not
    imported.
    """
    return dspy.LM(model, api_base=url, api_key="stub", cache=False, **kwargs)


def read_stub_url(arg):
    if arg:
        return arg
    with open("/tmp/stub.url") as f:
        return f.read().strip()


def peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def percentile(sorted_values, q):
    """Nearest-rank percentile (q in [0, 100]) of an already sorted list."""
    if not sorted_values:
        return None
    import math

    k = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(k, len(sorted_values)) - 1]

"""Derives data/movie_sentiment.jsonl from the movie-review snippets that ship in the
vaderSentiment 3.3.2 sdist (MIT licence; Hutto & Gilbert, ICWSM 2014: 10,605 sentences
from rottentomatoes.com rated from -4 to +4 by 20 people each).

Kept: snippets of 6 to 40 words whose mean rating is clearly positive (>= 1.5) or
clearly negative (<= -1.5); 200 of each, drawn with a fixed seed, shuffled together.
Each line: {"review": text, "sentiment": "positive" | "negative", "rating": mean}.

    python3 scripts/derive-movie-sentiment.py      (needs pip and network to PyPI)
"""
import io
import json
import random
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "movie_sentiment.jsonl"
PER_CLASS = 200
SEED = 20141108


def snippets():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "vaderSentiment==3.3.2", "-d", tmp],
            check=True,
        )
        sdist = tarfile.open(next(Path(tmp).glob("vaderSentiment-3.3.2.tar.gz")))
        inner_member = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
        inner = tarfile.open(fileobj=io.BytesIO(sdist.extractfile(inner_member).read()))
        member = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
        raw = inner.extractfile(member).read().decode("utf-8", errors="replace")
    for line in raw.splitlines():
        parts = line.strip().split("\t")
        if len(parts) != 3:
            continue
        _, rating, text = parts
        yield float(rating), " ".join(text.replace("''", '"').split())


def main():
    positive, negative = [], []
    for rating, text in snippets():
        if not 6 <= len(text.split()) <= 40:
            continue
        if rating >= 1.5:
            positive.append((rating, text))
        elif rating <= -1.5:
            negative.append((rating, text))
    rng = random.Random(SEED)
    chosen = [(r, t, "positive") for r, t in rng.sample(positive, PER_CLASS)]
    chosen += [(r, t, "negative") for r, t in rng.sample(negative, PER_CLASS)]
    rng.shuffle(chosen)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as f:
        for rating, text, label in chosen:
            f.write(json.dumps({"review": text, "sentiment": label, "rating": round(rating, 3)}) + "\n")
    print(f"{OUT}: {len(chosen)} examples ({len(positive)} positive and {len(negative)} negative candidates)")


if __name__ == "__main__":
    main()

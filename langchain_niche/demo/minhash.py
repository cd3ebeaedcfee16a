"""Demo section: MinHash-LSH selection over a large corpus, and deduplication."""

from __future__ import annotations

import gc
import random
import statistics
import time

from langchain_niche.datasets import python_api_examples
from langchain_niche.dedupe import dedupe_examples
from langchain_niche.demo.console import Console, format_seconds, shorten
from langchain_niche.demo.corpora import LARGE_SIZE, describe, large_corpus
from langchain_niche.selectors import JaccardExampleSelector, MinHashExampleSelector

__all__ = ["TITLE", "run"]

TITLE = "MinHash-LSH selection for large corpora, and near-duplicate removal"

QUERIES = [
    "Delete a directory tree recursively",
    "Return the median of a list of numbers",
    "Split a shell command line into arguments",
]
SIZE = LARGE_SIZE
_SAMPLE = 50
_THRESHOLD = 0.8


def _median_seconds(selector: object, inputs: list[dict[str, str]]) -> float:
    samples = []
    for x in inputs:
        start = time.perf_counter()
        selector.select_examples(x)  # type: ignore[attr-defined]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(out: Console, size: int = SIZE) -> None:
    """Index a large corpus, select from it, compare with exact selection, deduplicate."""
    real = python_api_examples()
    corpus = large_corpus(size)
    out.wrap(f"Corpus: {describe(size)}; the selection section's speed table uses the same one.")
    start = time.perf_counter()
    selector = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=3)
    build = time.perf_counter() - start
    out.wrap(
        f"Indexed in {format_seconds(build)}: b={selector.bands} bands of r={selector.rows_per_band} "
        f"MinHash values, {selector.index_nbytes / len(selector):.0f} bytes of index per example."
    )

    out.subheading("Selections (LSH candidates, re-ranked by their exact Jaccard score)")
    out.print(
        "Score: exact Jaccard similarity of the word sets, in [0, 1]; x.f<n>: recombined text."
    )
    for query in QUERIES:
        out.print(f"input: {query!r}")
        out.table(
            ["Jaccard", "function", "description"],
            [
                (f"{score:.3f}", example["function"], shorten(example["description"], 50))
                for example, score in selector.select_examples_with_scores({"description": query})
            ],
            right=(0,),
            indent="   ",
        )

    out.subheading(f"Speed against the exact selector on the same {len(corpus):,} examples")
    exact = JaccardExampleSelector(examples=corpus, input_keys=["description"], k=3)
    gc.collect()
    sample = random.Random(3).sample(real, _SAMPLE)  # noqa: S311 - reproducible sampling
    inputs = [{"description": e["description"]} for e in sample]
    inputs += [{"description": q} for q in QUERIES]
    rows = []
    for fallback in ("probe", "none"):
        selector.fallback = fallback
        rows.append(
            (
                f"MinHashExampleSelector, fallback={fallback!r}",
                format_seconds(_median_seconds(selector, inputs)),
            )
        )
    rows.append(("JaccardExampleSelector (exact)", format_seconds(_median_seconds(exact, inputs))))
    out.table(["selector (k=3)", "median time per selection"], rows, right=(1,))
    out.wrap(
        f"Medians over {len(inputs)} inputs ({_SAMPLE} docstrings of the corpus + the "
        f"{len(QUERIES)} above), one pass each. The exact selector's time depends on how many "
        "examples share a word with the input, so it differs from the selection section's "
        "(other inputs)."
    )
    selector.fallback = "probe"

    out.subheading("Removing near-duplicates (dedupe_examples)")
    rng = random.Random(5)  # noqa: S311
    noisy = []
    for example in real:
        noisy.append(example)
        tokens = example["description"].split()
        if len(tokens) > 8 and rng.random() < 0.3:
            tokens[rng.randrange(len(tokens))] = "(edited)"
            noisy.append({**example, "description": " ".join(tokens)})
    copies = len(noisy) - len(real)
    start = time.perf_counter()
    kept = dedupe_examples(noisy, threshold=_THRESHOLD, input_keys=["description"])
    elapsed = time.perf_counter() - start
    out.wrap(
        f"Input: the {len(real):,} docstrings plus an edited copy (one word replaced) of "
        f"{copies:,} of them ({copies / len(real):.0%}): {len(noisy):,} examples."
    )
    out.wrap(
        f"Output: {len(kept):,} kept at Jaccard >= {_THRESHOLD} in {format_seconds(elapsed)}; "
        f"{len(noisy) - len(kept):,} removed, more than the {copies:,} copies because many "
        "docstrings are near-identical themselves."
    )
    out.print("Shared through Redis: MinHashExampleSelector(redis_url=..., index_name=...);")
    out.print("see cookbook/minhash_large_corpus.ipynb and `python -m langchain_niche --help`.")

"""Demo section: MinHash-LSH selection over a large corpus, and deduplication."""

from __future__ import annotations

import gc
import random
import statistics
import time

from langchain_niche.datasets import python_api_examples
from langchain_niche.dedupe import dedupe_examples
from langchain_niche.demo.console import Console, format_seconds
from langchain_niche.selectors import JaccardExampleSelector, MinHashExampleSelector

__all__ = ["TITLE", "run"]

TITLE = "MinHash-LSH selection for large corpora, and near-duplicate removal"

QUERIES = [
    "Delete a directory tree recursively",
    "Return the median of a list of numbers",
    "Split a shell command line into arguments",
]
SIZE = 100_000


def _corpus(base: list[dict[str, str]], size: int) -> list[dict[str, str]]:
    """The real examples plus recombined 5-30 word texts (seeded), ``size`` in all."""
    rng = random.Random(11)  # noqa: S311 - reproducible sampling, not security
    words = [w for e in base for w in e["description"].split()]
    extra = [
        {"description": " ".join(rng.choices(words, k=rng.randint(5, 30))), "function": f"x.f{i}"}
        for i in range(size - len(base))
    ]
    return base + extra


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
    corpus = _corpus(real, size)
    start = time.perf_counter()
    selector = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=3)
    build = time.perf_counter() - start
    out.print(
        f"{len(corpus):,} examples ({len(real):,} real docstrings, the rest recombined) indexed "
        f"in {format_seconds(build)}: b={selector.bands} bands of r={selector.rows_per_band} "
        f"MinHash values, {selector.index_nbytes / len(selector):.0f} bytes per example."
    )

    out.subheading("Selections (exact Jaccard scores of the LSH candidates)")
    for query in QUERIES:
        out.print(f"input: {query!r}")
        for example, score in selector.select_examples_with_scores({"description": query}):
            out.print(f"   {score:.3f}  {example['function']:<30} {example['description'][:50]}")

    out.subheading("Speed against the exact selector on the same corpus")
    exact = JaccardExampleSelector(examples=corpus, input_keys=["description"], k=3)
    gc.collect()
    sample = random.Random(3).sample(real, 50)  # noqa: S311 - reproducible sampling
    inputs = [{"description": e["description"]} for e in sample]
    inputs += [{"description": q} for q in QUERIES]
    rows = []
    for fallback in ("probe", "none"):
        selector.fallback = fallback
        rows.append(
            (
                f"MinHash-LSH, fallback={fallback!r}",
                format_seconds(_median_seconds(selector, inputs)),
            )
        )
    rows.append(("JaccardExampleSelector (exact)", format_seconds(_median_seconds(exact, inputs))))
    out.table(["selector", "median time per selection"], rows)
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
    start = time.perf_counter()
    kept = dedupe_examples(noisy, threshold=0.8, input_keys=["description"])
    out.print(
        f"{len(noisy):,} examples (a third with an edited copy) -> {len(kept):,} kept at "
        f"Jaccard >= 0.8 in {format_seconds(time.perf_counter() - start)}"
    )
    out.print("Shared through Redis: MinHashExampleSelector(redis_url=..., index_name=...);")
    out.print("see cookbook/minhash_large_corpus.ipynb and `python -m langchain_niche --help`.")

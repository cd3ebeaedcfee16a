"""Benchmark scoped selection (issue 14): one scope of many vs the whole index, in one run.

    python benchmarks/bench_scoped.py                          # 1M examples over 100 scopes
    python benchmarks/bench_scoped.py --size 200000            # smaller
    python benchmarks/bench_scoped.py --selectors minhash      # only MinHashExampleSelector

Corpus: ``corpora.zipf_texts`` (5-30-word texts), example ``i`` in scope ``i % scopes``
(field ``tenant``) with a second field ``lang`` (3 values) for the per-field memory.
One in-memory ``JaccardExampleSelector`` (``input_keys=["q"]``), k=4, timed with
``similarity="jaccard"`` and then ``"bm25"`` (same index); then one in-memory
``MinHashExampleSelector`` (same examples), timed with ``fallback="probe"`` (the default)
and then ``"exact"``. Median over the queries (each query in a random scope):

* unfiltered: ``search({"q": ...})`` over the whole index;
* scoped: ``search({"q": ...}, filter={"tenant": t})`` (the path ``filter_keys`` takes);
* filter-after: the unfiltered selection with ``k = 4 * scopes`` (what one would fetch to
  expect 4 in-scope hits), then filtered to the scope; how often it came back short of
  the exact scoped result is printed too.

For MinHash, "short of k" counts the scoped selections returning fewer than k examples
although the scope holds k sharing a token with the query (the exact scan's result).
Memory: bytes of the scope index (codes, postings, live flags, vocabulary) per example,
with one and with two filter fields. Every scoped result is checked to lie in its scope.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_niche import JaccardExampleSelector, MinHashExampleSelector
from langchain_niche.demo.console import format_seconds as fmt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median_per_item, table
from corpora import zipf_texts

K = 4


Selector = JaccardExampleSelector | MinHashExampleSelector
Queries = list[tuple[dict[str, str], str]]


def measure(
    selector: Selector,
    queries: Queries,
    scopes: int,
    exact: Callable[[dict[str, str], str], Any],
    scoped_search: Callable[[dict[str, str], str], list[Any]] | None = None,
) -> str:
    """The latency table of one setting, and how scoped compares with filter-after.

    ``exact(inputs, tenant)`` gives the exact scoped result (the selector's own, or the
    MinHash selector's with ``fallback="exact"``): the reference for filter-after and
    short-of-k. ``scoped_search(inputs, tenant)`` is the scoped selection (default: the
    selector's search with ``filter={"tenant": tenant}``).
    """
    differed = short = 0
    if scoped_search is None:
        scoped_search = lambda inputs, tenant: selector.search(inputs, filter={"tenant": tenant})  # noqa: E731

    def filter_after(item: tuple[dict[str, str], str]) -> list[Any]:
        hits = selector.search(item[0], k=K * scopes)
        return [h for h in hits if h.example["tenant"] == item[1]][:K]

    for inputs, tenant in queries:
        got = scoped_search(inputs, tenant)
        want = exact(inputs, tenant)
        assert all(h.example["tenant"] == tenant for h in got)
        short += len(got) < len(want)
        after = filter_after((inputs, tenant))
        if [h.id for h in after] != [h.id for h in want]:
            differed += 1
    unfiltered = median_per_item(lambda item: selector.search(item[0]), queries, warmup=3)
    scoped = median_per_item(lambda item: scoped_search(item[0], item[1]), queries, warmup=3)
    after_s = median_per_item(filter_after, queries, warmup=3)
    rows = [
        ["unfiltered (whole index)", fmt(unfiltered), "1.00"],
        [f"scoped (1 of {scopes})", fmt(scoped), f"{scoped / unfiltered:.2f}"],
        [f"filter-after (k={K * scopes})", fmt(after_s), f"{after_s / unfiltered:.2f}"],
    ]
    return (
        table(["selection, k=4, median", "latency", "vs unfiltered"], rows)
        + f"\nscoped vs filter-after: {after_s / scoped:.1f}x faster; filter-after differed "
        f"from the exact scoped result for {differed} of {len(queries)} queries; scoped "
        f"came back short of k for {short} of {len(queries)} queries"
    )


def bench_jaccard(examples: list[dict[str, Any]], queries: Queries, scopes: int) -> None:
    """JaccardExampleSelector: Jaccard and BM25 on one index, and the scope index's memory."""
    start = time.perf_counter()
    selector = JaccardExampleSelector(examples=examples, input_keys=["q"], k=K)
    size = len(examples)
    print(
        f"\nJaccardExampleSelector: built {size:,} examples in {fmt(time.perf_counter() - start)}"
    )
    store = selector._storage.store  # a study: read-only
    start = time.perf_counter()
    selector.search(queries[0][0], filter={"tenant": queries[0][1]})
    first = time.perf_counter() - start
    one_field = store._scope.nbytes / size  # type: ignore[union-attr]
    selector.search(queries[0][0], filter={"tenant": queries[0][1], "lang": "de"})
    two_fields = store._scope.nbytes / size  # type: ignore[union-attr]

    for similarity in ("jaccard", "bm25"):
        selector.similarity = similarity  # same index, other scoring
        print(f"\nsimilarity={similarity!r}")
        print(
            measure(
                selector, queries, scopes, lambda q, t: selector.search(q, filter={"tenant": t})
            )
        )
    print(f"first scoped query (builds the scope index): {fmt(first)}")
    # after a few queries without a change the scope postings exist (4 B per row and field)
    for _ in range(3):
        selector.search(queries[0][0], filter={"tenant": queries[0][1], "lang": "de"})
    warm = store._scope.nbytes / size  # type: ignore[union-attr]
    print(
        f"scope index memory: {one_field:.1f} B/example with 1 filter field, "
        f"{two_fields:.1f} B/example with 2 ({two_fields - one_field:.1f} B for the second); "
        f"with the postings of both fields built: {warm:.1f} B/example "
        f"({(warm - 1) / 2:.1f} B per field besides the 1 B live flag)"
    )


def bench_minhash(examples: list[dict[str, Any]], queries: Queries, scopes: int) -> None:
    """MinHashExampleSelector in memory: fallback="probe" (default), then "exact".

    Unfiltered and filter-after on an index without ``filter_keys``; scoped on a
    second index of the same examples with ``filter_keys=["tenant"]`` (its band keys
    salted by scope), the tenant passed in the input as a few-shot prompt passes it.
    """
    start = time.perf_counter()
    selector = MinHashExampleSelector(examples=examples, input_keys=["q"], k=K)
    print(
        f"\nMinHashExampleSelector: built {len(examples):,} examples in "
        f"{fmt(time.perf_counter() - start)}"
    )
    start = time.perf_counter()
    partitioned = MinHashExampleSelector(
        examples=examples, input_keys=["q"], filter_keys=["tenant"], k=K
    )
    print(
        f"with filter_keys=['tenant']: built {len(examples):,} examples in "
        f"{fmt(time.perf_counter() - start)}; index {partitioned.storage.nbytes / len(examples):.1f}"
        f" B/example vs {selector.storage.nbytes / len(examples):.1f} without"
    )

    def scoped_search(inputs: dict[str, str], tenant: str) -> list[Any]:
        return partitioned.search({**inputs, "tenant": tenant})

    def exact(inputs: dict[str, str], tenant: str) -> Any:
        setting = selector.fallback
        selector.fallback = "exact"
        try:
            return selector.search(inputs, filter={"tenant": tenant})
        finally:
            selector.fallback = setting

    for fallback in ("probe", "exact"):
        selector.fallback = fallback
        partitioned.fallback = fallback
        print(f"\nfallback={fallback!r}")
        print(measure(selector, queries, scopes, exact, scoped_search))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--scopes", type=int, default=100)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--selectors", default="jaccard,minhash")
    args = parser.parse_args()
    print(machine())
    print(
        f"command: python benchmarks/bench_scoped.py --size {args.size} --scopes {args.scopes} "
        f"--selectors {args.selectors}"
    )
    texts = zipf_texts(args.size, seed=0)
    examples = [
        {"q": text, "tenant": f"t{i % args.scopes}", "lang": ("de", "fr", "en")[(i // 7) % 3]}
        for i, text in enumerate(texts)
    ]
    del texts
    rng = random.Random(1)
    queries = [
        ({"q": text}, f"t{rng.randrange(args.scopes)}")
        for text in zipf_texts(args.queries, seed=10_000)
    ]
    chosen = args.selectors.split(",")
    if "jaccard" in chosen:
        bench_jaccard(examples, queries, args.scopes)
    if "minhash" in chosen:
        bench_minhash(examples, queries, args.scopes)


if __name__ == "__main__":
    main()

"""Benchmark JaccardExampleSelector against the baselines it replaces, in one run.

    python benchmarks/bench_jaccard.py            # 10k, 100k and 1M examples
    python benchmarks/bench_jaccard.py --quick    # 10k and 100k only

Prints, for corpora of 5-30-word texts (see corpora.py, shared with the MinHash benchmarks):

* build throughput and index memory per example;
* median selection latency at every size (k=4) and how it grows;
* ratios against (a) the pure-Python scan over pre-tokenized sets that the
  original article sketches, at 100k examples, and (b) langchain-community's
  NGramOverlapExampleSelector at 10k examples (skipped with a note when
  ``pip install langchain-community nltk`` has not been run);
* a check that our top-k equals the brute-force top-k for every timed query.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import itertools
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

from langchain_niche import JaccardExampleSelector
from langchain_niche.demo.console import format_seconds as fmt
from langchain_niche.text import default_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, median_per_item, table
from corpora import zipf_texts

K = 4


def brute_force(sets: list[set[str]], query: set[str], k: int) -> list[tuple[float, int]]:
    """The article's algorithm: score every pre-tokenized example, keep the top k."""
    scored = ((len(query & s) / len(query | s), -i) for i, s in enumerate(sets) if query & s)
    return [(score, -neg) for score, neg in heapq.nlargest(k, scored)]


def build(texts: list[str]) -> tuple[JaccardExampleSelector, float, list[dict[str, str]]]:
    examples = [{"input": t, "output": f"label {i}"} for i, t in enumerate(texts)]
    gc.collect()
    start = time.perf_counter()
    selector = JaccardExampleSelector(examples=examples, k=K, input_keys=["input"])
    return selector, time.perf_counter() - start, examples


def memory_per_example(examples: list[dict[str, str]]) -> float:
    """Bytes the selector holds beyond the (copied) example dicts, per example."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    selector = JaccardExampleSelector(examples=examples, k=K, input_keys=["input"])
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    stored = selector._storage.store.iter_live()  # a study: read-only
    dict_bytes = sum(sys.getsizeof(e) for _, e in stored)
    return (after - before - dict_bytes) / len(examples)


def ngram_overlap_seconds(texts: list[str], queries: list[str]) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from langchain_community.example_selectors import NGramOverlapExampleSelector
            from langchain_core.prompts import PromptTemplate
    except ImportError:
        return None
    selector = NGramOverlapExampleSelector(
        examples=[{"input": t, "output": "x"} for t in texts],
        example_prompt=PromptTemplate.from_template("{input} {output}"),
    )
    samples = []
    for query in queries:
        start = time.perf_counter()
        selector.select_examples({"input": query})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="skip the 1M-example corpus")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]

    print(machine())
    print(f"command: python benchmarks/bench_jaccard.py{' --quick' if args.quick else ''}")
    print(f"date: {time.strftime('%Y-%m-%d')}")
    queries = zipf_texts(args.queries, seed=10_000)
    inputs = [{"input": q} for q in queries]

    latency: dict[int, float] = {}
    rows = []
    selectors: dict[int, tuple[JaccardExampleSelector, list[str]]] = {}
    for size in sizes:
        texts = zipf_texts(size, seed=0)
        # Build throughput: the median of 3 builds (1 at a million), so a passing load
        # spike on a shared machine does not decide the number.
        builds = [build(texts) for _ in range(3 if size <= 100_000 else 1)]
        selector = builds[-1][0]
        seconds = statistics.median(b[1] for b in builds)
        del builds
        latency[size] = median_per_item(selector.select_examples, inputs)
        rows.append(
            [
                f"{size:,}",
                fmt(seconds),
                f"{size / seconds:,.0f}",
                f"{selector.index_nbytes / size:.0f}",
                fmt(latency[size]),
            ]
        )
        if size <= 100_000:
            selectors[size] = (selector, texts)
        else:
            del selector
        gc.collect()
    print("\n### JaccardExampleSelector: build and selection (k=4, corpora of 5-30 words)\n")
    print(
        table(["examples", "build", "examples/s", "index bytes/example", "median selection"], rows)
    )

    growth = []
    for small, large in itertools.pairwise(sizes):
        growth.append(
            [
                f"{small:,} -> {large:,}",
                f"{large // small}x",
                f"{latency[large] / latency[small]:.1f}x",
            ]
        )
    print("\n### Growth of selection latency with corpus size (linear = same factor)\n")
    print(table(["corpus", "size factor", "latency factor"], growth))

    # Memory beyond the example dicts, measured with tracemalloc at 100k.
    mem_texts = selectors[100_000][1]
    per_example = memory_per_example(
        [{"input": t, "output": f"label {i}"} for i, t in enumerate(mem_texts)]
    )
    print(
        f"\nmemory held beyond the example dicts (tracemalloc, 100,000 examples): {per_example:.0f} bytes/example"
    )

    print("\n### Against the baselines (same corpus, same queries, one run)\n")
    comparisons = []
    selector, texts = selectors[100_000]
    sets = [set(default_tokenizer(t)) for t in texts]
    brute_queries = queries[:20]
    brute = median_per_item(
        lambda q: brute_force(sets, set(default_tokenizer(q)), K), brute_queries, warmup=1
    )
    ours = median_per_item(
        lambda q: selector.select_examples({"input": q}), brute_queries, warmup=1
    )
    identical = all(
        [(s.score, int(s.id)) for s in selector.search({"input": q})]
        == brute_force(sets, set(default_tokenizer(q)), K)
        for q in queries
    )
    comparisons.append(
        [
            "pure-Python scan of pre-tokenized sets",
            "100,000",
            fmt(ours),
            fmt(brute),
            f"{brute / ours:,.0f}x",
        ]
    )
    small_selector, small_texts = selectors[10_000]
    ngram = ngram_overlap_seconds(small_texts, queries[:3])
    ours_small = median_per_item(
        lambda q: small_selector.select_examples({"input": q}), queries[:3], warmup=1
    )
    if ngram is None:
        comparisons.append(
            [
                "NGramOverlapExampleSelector",
                "10,000",
                fmt(ours_small),
                "not installed",
                "pip install langchain-community nltk",
            ]
        )
    else:
        comparisons.append(
            [
                "NGramOverlapExampleSelector (langchain-community)",
                "10,000",
                fmt(ours_small),
                fmt(ngram),
                f"{ngram / ours_small:,.0f}x",
            ]
        )
    print(table(["baseline", "examples", "ours", "baseline", "speed-up"], comparisons))
    print(
        f"\ntop-k identical to the brute-force reference for all {len(queries)} queries: {'yes' if identical else 'NO'}"
    )


if __name__ == "__main__":
    main()

"""In-memory MinHash-LSH selection at scale: build, bytes per example, speed, recall by band.

    python benchmarks/bench_minhash_memory.py --size 1000000     # the README numbers
    python benchmarks/bench_minhash_memory.py                    # 100,000 examples, ~1 min

Timings: ``--rounds`` passes over the queries, alternating the selectors so they
run under the same conditions; each query counts its fastest pass, and the
tables show the median over queries (the machine these run on is shared).

Corpus (corpora.py): Zipf texts of 5-30 real words, plus, for ``--queries``
query texts, ``--variants`` planted variants each at similarities spread over
(0, 1] so recall can be measured per similarity band. Baselines:
``JaccardExampleSelector`` (exact; speed and the ground truth for recall) and
``datasketch.MinHashLSH`` with its default dict storage (bytes per key,
measured with tracemalloc on ``--datasketch-size`` keys).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections import defaultdict

import numpy as np
from _common import fmt_time, machine, rss_bytes, table
from corpora import planted_neighbours, zipf_texts
from datasketch import MinHash, MinHashLSH

from langchain_niche import JaccardExampleSelector, MinHashExampleSelector, TextAnalyzer

BANDS = [(0.9, 1.01), (0.8, 0.9), (0.7, 0.8), (0.6, 0.7), (0.5, 0.6), (0.4, 0.5), (0.3, 0.4), (0.2, 0.3), (0.1, 0.2), (0.0, 0.1)]  # fmt: skip


def build_corpus(size: int, queries: int, variants: int) -> tuple[list[dict[str, str]], list[str]]:
    query_texts = zipf_texts(queries, seed=202)
    planted = [text for _, text in planted_neighbours(query_texts, variants, seed=203)]
    background = zipf_texts(size - len(planted), seed=201)
    rng = np.random.default_rng(204)
    positions = set(rng.choice(size, size=len(planted), replace=False).tolist())
    texts, source = [], iter(planted)
    other = iter(background)
    for i in range(size):
        texts.append(next(source) if i in positions else next(other))
    return [{"text": text, "label": f"l{i}"} for i, text in enumerate(texts)], query_texts


def datasketch_bytes_per_key(texts: list[str], threshold: float, num_perm: int) -> float:
    analyzer = TextAnalyzer()
    hashes = MinHash.bulk(
        [[t.encode() for t in analyzer.shingles(text)] for text in texts], num_perm=num_perm
    )
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for i, m in enumerate(hashes):
        lsh.insert(i, m)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / len(texts)


def timed_queries(
    selector: object, inputs: list[dict[str, str]]
) -> tuple[list[float], list[float], list[list[tuple[str, float]]]]:
    """Wall time and CPU time (this thread) of every query, and the results."""
    for x in inputs[:10]:  # warm-up
        selector.search(x)  # type: ignore[attr-defined]
    samples, cpu, results = [], [], []
    for x in inputs:
        start, start_cpu = time.perf_counter(), time.thread_time()
        hits = selector.search(x)  # type: ignore[attr-defined]
        cpu.append(time.thread_time() - start_cpu)
        samples.append(time.perf_counter() - start)
        results.append([(h.id, h.score) for h in hits])
    return samples, cpu, results


def best_of(runs: list[list[float]]) -> float:
    """Median over queries of each query's fastest run (filters a shared machine's noise)."""
    return statistics.median(min(times) for times in zip(*runs, strict=True))


def recalled(
    exact: list[tuple[str, float]], ours: list[tuple[str, float]]
) -> list[tuple[float, bool]]:
    """Each exact neighbour with whether ours returned it (or an equally scored stand-in)."""
    ours_ids = {i for i, _ in ours}
    exact_ids = {i for i, _ in exact}
    extras = [s for i, s in ours if i not in exact_ids]
    out = []
    for example_id, score in exact:
        if example_id in ours_ids:
            out.append((score, True))
            continue
        tie = next((n for n, s in enumerate(extras) if abs(s - score) < 1e-12), None)
        if tie is not None:
            extras.pop(tie)
        out.append((score, tie is not None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--variants", type=int, default=10)
    parser.add_argument("--fresh", type=int, default=200, help="queries without planted variants")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=3, help="timing rounds; each query's fastest counts"
    )
    parser.add_argument("--lsh-threshold", type=float, default=0.5)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument(
        "--lsh-weights",
        type=lambda text: tuple(float(w) for w in text.split(",")),
        help="false-positive,false-negative weights (default: the selector's, 0.1,0.9)",
    )
    parser.add_argument("--datasketch-size", type=int, default=20_000)
    args = parser.parse_args()

    print(f"generating {args.size:,} examples ...", flush=True)
    examples, query_texts = build_corpus(args.size, args.queries, args.variants)
    fresh_texts = zipf_texts(args.fresh, seed=205)
    gc.collect()

    rss0 = rss_bytes()
    start = time.perf_counter()
    weights = {"lsh_weights": args.lsh_weights} if args.lsh_weights else {}
    ours = MinHashExampleSelector(
        examples=examples, input_keys=["text"], k=args.k,
        lsh_threshold=args.lsh_threshold, num_perm=args.num_perm, **weights,
    )  # fmt: skip
    build = time.perf_counter() - start
    gc.collect()
    rss_ours = rss_bytes() - rss0
    index_bytes = ours.index_nbytes
    print(f"ours built in {build:.1f} s", flush=True)

    start = time.perf_counter()
    exact = JaccardExampleSelector(examples=examples, input_keys=["text"], k=args.k)
    exact_build = time.perf_counter() - start
    print(f"JaccardExampleSelector built in {exact_build:.1f} s", flush=True)

    # Millions of example dicts: freeze them out of the cyclic GC's way (for both selectors).
    gc.collect()
    gc.freeze()
    planted_inputs = [{"text": t} for t in query_texts]
    fresh_inputs = [{"text": t} for t in fresh_texts]
    speed_rows = []
    recall_by_band: dict[tuple[float, float], list[bool]] = defaultdict(list)
    recall_full: dict[tuple[float, float], list[bool]] = defaultdict(list)
    default_limit = ours.rerank_limit
    for name, inputs in (("planted queries", planted_inputs), ("fresh texts", fresh_inputs)):
        runs: dict[str, tuple[list[list[float]], list[list[float]]]] = {}
        for _ in range(args.rounds):  # rounds interleave the selectors: same conditions
            for setting in ("exact", "ours", "full"):
                selector = exact if setting == "exact" else ours
                ours.rerank_limit = None if setting == "full" else default_limit
                wall, cpu, results = timed_queries(selector, inputs)
                runs.setdefault(setting, ([], []))[0].append(wall)
                runs[setting][1].append(cpu)
                if setting == "exact":
                    truth = results
                elif setting == "ours":
                    got = results
                else:
                    got_full = results
        ours.rerank_limit = default_limit
        t_exact, cpu_exact = best_of(runs["exact"][0]), best_of(runs["exact"][1])
        t_ours, cpu_ours = best_of(runs["ours"][0]), best_of(runs["ours"][1])
        t_full = best_of(runs["full"][0])
        speed_rows.append(
            [
                name,
                f"{args.size:,}",
                f"{fmt_time(t_ours)} (CPU {fmt_time(cpu_ours)})",
                fmt_time(t_full),
                f"{fmt_time(t_exact)} (CPU {fmt_time(cpu_exact)})",
                f"{t_exact / t_ours:.1f}x (CPU {cpu_exact / cpu_ours:.1f}x)",
            ]
        )
        for truth_q, got_q, full_q in zip(truth, got, got_full, strict=True):
            for (score, hit), (_, hit_full) in zip(
                recalled(truth_q, got_q), recalled(truth_q, full_q), strict=True
            ):
                band = next(b for b in BANDS if b[0] <= score < b[1])
                recall_by_band[band].append(hit)
                recall_full[band].append(hit_full)

    # Last: its thousands of short-lived objects and tracemalloc slow the timings above.
    ds_size = min(args.datasketch_size, args.size)
    ds_bytes = datasketch_bytes_per_key(
        [e["text"] for e in examples[:ds_size]], args.lsh_threshold, args.num_perm
    )

    print()
    print(
        f"MinHash-LSH in memory: num_perm={args.num_perm}, lsh_threshold={args.lsh_threshold}, "
        f"lsh_weights={ours.lsh_weights} (b={ours.bands}, r={ours.rows_per_band}), k={args.k}, "
        f"fallback={ours.fallback!r}, rerank_limit={ours.rerank_limit}"
    )
    print(machine())
    print()
    print(table(
        ["corpus", "size", "ours: build", "ours: index bytes/example", "ours: process RSS/example (examples included)", f"datasketch MinHashLSH dict storage bytes/key ({ds_size:,} keys)", "ratio (index)"],
        [["Zipf texts 5-30 words", f"{args.size:,}", f"{build:.1f} s", f"{index_bytes / args.size:,.0f}", f"{rss_ours / args.size:,.0f}", f"{ds_bytes:,.0f}", f"{ds_bytes / (index_bytes / args.size):.1f}x smaller"]],
    ))  # fmt: skip
    print(f"(JaccardExampleSelector built the same corpus in {exact_build:.1f} s)")
    print()
    print(
        table(
            [
                "queries",
                "size",
                "ours (defaults, median)",
                "ours, rerank_limit=None",
                "JaccardExampleSelector (median)",
                "speed-up",
            ],
            speed_rows,
        )
    )
    print()
    rows = []
    for band in BANDS:
        hits, hits_full = recall_by_band.get(band, []), recall_full.get(band, [])
        if hits:
            label = f"[{band[0]:.1f}, {min(band[1], 1.0):.1f}{']' if band[1] > 1 else ')'}"
            rows.append([label, len(hits), f"{np.mean(hits):.3f}", f"{np.mean(hits_full):.3f}"])
    above = [h for band, hs in recall_by_band.items() if band[0] >= args.lsh_threshold for h in hs]
    above_full = [
        h for band, hs in recall_full.items() if band[0] >= args.lsh_threshold for h in hs
    ]
    rows.append(
        [
            f"all >= {args.lsh_threshold}",
            len(above),
            f"{np.mean(above):.3f}",
            f"{np.mean(above_full):.3f}",
        ]
    )
    print(
        f"recall@{args.k} against JaccardExampleSelector, by the neighbour's exact Jaccard similarity:"
    )
    print(
        table(
            [
                "similarity band",
                "neighbours",
                "recall (defaults)",
                "recall (rerank_limit=None)",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()

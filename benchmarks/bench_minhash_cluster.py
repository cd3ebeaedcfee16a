"""MinHash index on a Redis Cluster (3 masters + 3 replicas) vs one Redis node (issue 15).

    python benchmarks/bench_minhash_cluster.py [--size 200000] [--queries 300]

Starts a throwaway redis-server and a throwaway local cluster (tests/support/redis_cluster.py)
on free loopback ports, loads the same Zipf corpus into both, and prints: memory per
example (``INFO memory`` delta / examples; the cluster's is summed over its masters)
next to the in-memory index's bytes, the encodings of the postings hashes, bulk load rates and their ratio, query p50 and
its ratio, and 256 concurrent async selections on the cluster (errors counted).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from _common import fmt_rate, fmt_time, machine, redis_server, table
from bench_minhash_redis import bucket_encodings, used_memory
from corpora import zipf_texts

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langchain_niche import MinHashExampleSelector
from tests.support.redis_cluster import LocalRedisCluster


def load(
    url: str, examples: list[dict[str, str]], masters: list[str], **kwargs: object
) -> tuple[float, int, MinHashExampleSelector]:
    before = used_memory(masters)
    selector = MinHashExampleSelector(
        redis_url=url, index_name="bench", input_keys=["text"], k=4, **kwargs
    )
    start = time.perf_counter()
    for i in range(0, len(examples), 10_000):
        selector.add_examples(examples[i : i + 10_000])
    seconds = time.perf_counter() - start
    time.sleep(0.5)
    return len(examples) / seconds, used_memory(masters) - before, selector


def query_p50(selector: MinHashExampleSelector, queries: list[str]) -> float:
    samples = []
    for q in queries:
        start = time.perf_counter()
        selector.select_examples({"text": q})
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def concurrent(selector: MinHashExampleSelector, queries: list[str]) -> tuple[int, float]:
    start = time.perf_counter()
    results = await asyncio.gather(
        *(selector.aselect_examples({"text": q}) for q in queries), return_exceptions=True
    )
    return sum(isinstance(r, BaseException) for r in results), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--shards", type=int, default=None, help="redis_shards (default: 12)")
    args = parser.parse_args()
    texts = zipf_texts(args.size, seed=301)
    examples = [{"text": t} for t in texts]
    queries = zipf_texts(args.queries, seed=302)[: args.queries // 2] + texts[: args.queries // 2]
    print(machine())
    memory = MinHashExampleSelector(examples, input_keys=["text"], k=4)
    memory_bytes = memory.index_nbytes
    # a node busy with a script longer than cluster-node-timeout is failed over: the
    # harness's 1 s (for failover tests) is raised to a production-like 15 s here
    with redis_server(None) as single_url, LocalRedisCluster(node_timeout_ms=15_000) as cluster:
        masters = [f"redis://127.0.0.1:{node.port}" for node in cluster.masters()]
        one_rate, one_bytes, one = load(single_url, examples, [single_url])
        cl_rate, cl_bytes, clustered = load(
            cluster.urls[0], examples, masters, redis_shards=args.shards
        )
        assert len(one) == len(clustered) == args.size
        sample = queries[:100]
        differ = not_worse = 0
        for fallback in ("none", "probe"):
            one.fallback = clustered.fallback = fallback
            for q in sample:
                a, b = one.search({"text": q}), clustered.search({"text": q})
                if fallback == "none":
                    assert a == b, q  # banding alone: exactly the same examples and scores
                elif a != b:
                    differ += 1
                    not_worse += len(b) >= len(a) and all(
                        y.score >= x.score for x, y in zip(a, b, strict=False)
                    )
        one_p50, cl_p50 = query_p50(one, queries), query_p50(clustered, queries)
        errors, seconds = asyncio.run(concurrent(clustered, (queries * 2)[:256]))
        shards = len(clustered._storage.shards)  # type: ignore[attr-defined]
        encodings = (bucket_encodings([single_url]), bucket_encodings(masters))
    print(
        f"{args.size:,} examples, {len(queries)} queries; cluster: 3 masters + 3 replicas, {shards} shards"
    )
    print(
        table(
            ["", "B/example", "bulk load", "query p50"],
            [
                ["in-memory index", f"{memory_bytes / args.size:,.0f}", "", ""],
                [
                    "one Redis node",
                    f"{one_bytes / args.size:,.0f}",
                    fmt_rate(one_rate),
                    fmt_time(one_p50),
                ],
                [
                    "cluster (masters)",
                    f"{cl_bytes / args.size:,.0f}",
                    fmt_rate(cl_rate),
                    fmt_time(cl_p50),
                ],
                [
                    "cluster / one node",
                    "",
                    f"{cl_rate / one_rate:.2f}x",
                    f"{cl_p50 / one_p50:.2f}x",
                ],
            ],
        )
    )
    print(
        f"fallback='none': {len(sample)} of {len(sample)} selections equal; fallback='probe': "
        f"{differ} differ (each shard probes), {not_worse} of them score at least as high"
    )
    print(f"postings hashes: one node {encodings[0]}; cluster masters {encodings[1]}")
    print(
        f"256 concurrent async selections on the cluster: {errors} errors, {fmt_time(seconds)} in all"
    )


if __name__ == "__main__":
    main()

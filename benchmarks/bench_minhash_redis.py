"""MinHash-LSH selection shared through Redis on loopback: bulk load, query latency, concurrency.

    python benchmarks/bench_minhash_redis.py [--size 50000] [--redis-url redis://...]

Starts a throwaway ``redis-server`` on a free 127.0.0.1 port unless
``--redis-url`` is given (then it writes under a fresh index name). Baseline:
``datasketch.MinHashLSH`` with its Redis storage (``prepickle=False``, bytes
keys, ``insertion_session``), on ``--datasketch-size`` examples; both sides
start from texts (tokenizing and MinHash included). datasketch's query returns
unranked keys only, ours returns the ranked examples themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from urllib.parse import urlsplit

import redis
from _common import fmt_rate, fmt_time, machine, redis_server, table
from corpora import zipf_texts
from datasketch import MinHash, MinHashLSH

from langchain_niche import MinHashExampleSelector, TextAnalyzer


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def used_memory(urls: list[str]) -> int:
    """``INFO memory`` ``used_memory`` summed over these servers."""
    total = 0
    for url in urls:
        with redis.Redis.from_url(url) as client:
            total += int(client.info("memory")["used_memory"])
    return total


def bucket_encodings(urls: list[str]) -> str:
    """How the postings hashes (``niche:{...}:p:*``) of these servers are encoded."""
    counts: dict[str, int] = {}
    for url in urls:
        with redis.Redis.from_url(url) as client:
            keys = list(client.scan_iter("niche:*:p:*", count=10_000))
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.object("encoding", key)
            for encoding in pipe.execute():
                name = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
                counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} {n:,}" for name, n in sorted(counts.items()))


def server_seconds(client: redis.Redis) -> float:
    """CPU time of the redis-server process so far (INFO cpu)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def datasketch_side(
    url: str, texts: list[str], queries: list[str], threshold: float
) -> tuple[float, float]:
    parts = urlsplit(url)
    analyzer = TextAnalyzer()
    lsh = MinHashLSH(
        threshold=threshold,
        num_perm=128,
        storage_config={
            "type": "redis",
            "basename": f"ds-{uuid.uuid4().hex[:8]}".encode(),
            "redis": {"host": parts.hostname, "port": parts.port},
        },
        prepickle=False,
    )
    start = time.perf_counter()
    hashes = MinHash.bulk([[t.encode() for t in analyzer.shingles(x)] for x in texts], num_perm=128)
    with lsh.insertion_session() as session:
        for i, m in enumerate(hashes):
            session.insert(str(i).encode(), m, check_duplication=False)
    load = len(texts) / (time.perf_counter() - start)
    samples = []
    for text in queries:
        start = time.perf_counter()
        m = MinHash(num_perm=128)
        m.update_batch([t.encode() for t in analyzer.shingles(text)])
        lsh.query(m)
        samples.append(time.perf_counter() - start)
    return load, p50(samples)


async def concurrent(
    selector: MinHashExampleSelector, queries: list[str], n: int
) -> tuple[float, int]:
    start = time.perf_counter()
    results = await asyncio.gather(
        *[selector.aselect_examples({"text": queries[i % len(queries)]}) for i in range(n)],
        return_exceptions=True,
    )
    errors = sum(isinstance(r, BaseException) for r in results)
    return time.perf_counter() - start, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--datasketch-size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--lsh-threshold", type=float, default=0.5)
    parser.add_argument("--redis-url")
    args = parser.parse_args()

    texts = zipf_texts(args.size, seed=301)
    examples = [{"text": t, "label": f"l{i}"} for i, t in enumerate(texts)]
    queries = zipf_texts(args.queries, seed=302)
    with redis_server(args.redis_url) as url:
        selector = MinHashExampleSelector(
            redis_url=url, index_name=f"bench-{uuid.uuid4().hex[:8]}", input_keys=["text"], k=4,
            lsh_threshold=args.lsh_threshold,
        )  # fmt: skip
        admin = redis.Redis.from_url(url)
        memory_before = used_memory([url])
        start, start_cpu, start_server = (
            time.perf_counter(),
            time.process_time(),
            server_seconds(admin),
        )
        selector.add_examples(examples)
        load_wall = time.perf_counter() - start
        load = args.size / load_wall
        load_cpu = (time.process_time() - start_cpu) / args.size
        load_server = (server_seconds(admin) - start_server) / args.size
        redis_bytes = (used_memory([url]) - memory_before) / args.size
        encodings = bucket_encodings([url])

        for fallback in ("probe", "none"):
            selector.fallback = fallback
            samples = []
            cpu, server = time.process_time(), server_seconds(admin)
            for text in queries:
                start = time.perf_counter()
                selector.select_examples({"text": text})
                samples.append(time.perf_counter() - start)
            cpu = (time.process_time() - cpu) / len(queries)
            server = (server_seconds(admin) - server) / len(queries)
            if fallback == "probe":
                ours_p50, ours_p90 = p50(samples), statistics.quantiles(samples, n=10)[-1]
                ours_cpu, ours_server = cpu, server
            else:
                none_p50 = p50(samples)
        selector.fallback = "probe"
        wall, errors = asyncio.run(concurrent(selector, queries, args.concurrency))
        audit = selector.audit() if args.size <= 100_000 else {"problems": "skipped"}
        ds_load, ds_p50 = datasketch_side(
            url, texts[: args.datasketch_size], queries, args.lsh_threshold
        )

    in_memory = MinHashExampleSelector(
        examples, input_keys=["text"], lsh_threshold=args.lsh_threshold
    )
    memory_bytes = in_memory.index_nbytes / args.size
    print(
        f"MinHash-LSH in Redis (loopback), num_perm=128, lsh_threshold={args.lsh_threshold}, k=4, "
        f"b={selector.bands}, r={selector.rows_per_band}, redis_batch_size={selector.redis_batch_size}"
    )
    print(machine())
    print()
    print(table(
        ["measure", "corpus", "size", "ours", f"datasketch MinHashLSH + Redis storage ({args.datasketch_size:,})", "ratio"],
        [
            ["bulk load (examples/s)", "Zipf texts 5-30 words", f"{args.size:,}", fmt_rate(load), fmt_rate(ds_load), f"{load / ds_load:.1f}x"],
            ["memory per example (INFO used_memory delta) vs in-memory index", "", f"{args.size:,}", f"{redis_bytes:,.0f} B", f"in-memory: {memory_bytes:,.0f} B", f"{redis_bytes / memory_bytes:.1f}x"],
            ["bulk load CPU per example: client / Redis", "", f"{args.size:,}", f"{fmt_time(load_cpu)} / {fmt_time(load_server)}", "", ""],
            ["query p50 (ranked examples vs raw keys)", "", f"{args.size:,}", fmt_time(ours_p50), fmt_time(ds_p50), f"{ds_p50 / ours_p50:.1f}x"],
            ["query p50, fallback='none'", "", f"{args.size:,}", fmt_time(none_p50), "", ""],
            ["query p90", "", f"{args.size:,}", fmt_time(ours_p90), "", ""],
            ["query CPU (mean): client / Redis", "", f"{args.size:,}", f"{fmt_time(ours_cpu)} / {fmt_time(ours_server)}", "", ""],
            [f"{args.concurrency} concurrent async selections", "", f"{args.size:,}", f"{fmt_time(wall)} total, {errors} errors", "", ""],
        ],
    ))  # fmt: skip
    print(f"postings hashes: {encodings}")
    print(f"audit after the load: {audit['problems'] or 'consistent'}")


if __name__ == "__main__":
    main()

"""Redis memory per example and bulk-load rate by index size and ``redis_bucket_bits``.

    python benchmarks/redis_bucket_fill.py [--runs 20000:10,20000:14,200000:10,200000:13,1600000:13]
    python benchmarks/redis_bucket_fill.py --runs 200000:10,200000:10:4000

``redis_bucket_bits`` (default 10) is fixed when an index is created: ``bands * 2**bits``
postings hashes per shard. An index that grows past about 200,000 examples per
1,024 buckets fills them until Redis converts them from listpack to hashtable
(``hash-max-listpack-entries``, 512 by default); an index much smaller than its
buckets pays a key per band entry. Each run (``SIZE:BITS[:BATCH]``) loads ``SIZE``
Zipf texts into a new index created with ``redis_bucket_bits=BITS`` (one shard, one
node; ``redis_batch_size=BATCH``, default 1000) and prints the ``INFO memory`` ``used_memory`` delta per example, the
encodings of the buckets, the bulk-load rate and where its time goes: Redis's own
time in the insert script (``INFO commandstats`` ``evalsha``) per example and
per band entry. Starts a throwaway ``redis-server`` (server defaults).
"""

from __future__ import annotations

import argparse
import time

import redis
from _common import machine, redis_server, table
from bench_minhash_redis import bucket_encodings, used_memory
from corpora import zipf_texts

from langchain_niche import MinHashExampleSelector


def evalsha_usec(client: redis.Redis) -> int:
    """Microseconds Redis spent in ``EVALSHA`` so far (``INFO commandstats``)."""
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("usec", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", default="20000:10,20000:14,200000:10,200000:13,1600000:13")
    args = parser.parse_args()
    runs = [[int(x) for x in f"{run}:1000".split(":")[:3]] for run in args.runs.split(",")]
    texts = zipf_texts(max(run[0] for run in runs), seed=301)
    rows = []
    with redis_server(None) as url:
        client = redis.Redis.from_url(url)
        for size, bits, batch in runs:
            client.flushall()
            client.config_resetstat()
            examples = [{"text": t} for t in texts[:size]]
            before = used_memory([url])
            selector = MinHashExampleSelector(
                redis_url=url,
                index_name=f"fill{bits}",
                input_keys=["text"],
                redis_bucket_bits=bits,
                redis_batch_size=batch,
            )
            start = time.perf_counter()
            for i in range(0, size, 10_000):
                selector.add_examples(examples[i : i + 10_000])
            seconds = time.perf_counter() - start
            per_example = (used_memory([url]) - before) / size
            in_script = evalsha_usec(client) / size
            rows.append(
                [
                    f"{size:,}",
                    str(bits),
                    f"{batch:,}",
                    f"{size / 2**bits:,.0f}",
                    f"{per_example:,.0f}",
                    bucket_encodings([url]),
                    f"{size / seconds:,.0f}/s",
                    f"{in_script:,.0f} µs / {1000 * in_script / selector.bands:,.0f} ns",
                ]
            )
            print(rows[-1], flush=True)
    print(machine())
    print("Zipf texts 5-30 words, one node, server defaults, num_perm=128, 32 bands")
    print(
        table(
            [
                "examples",
                "bucket_bits",
                "redis_batch_size",
                "band keys per bucket",
                "B/example",
                "buckets",
                "bulk load",
                "insert script per example / band entry",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()

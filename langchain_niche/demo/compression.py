"""Demo section: entity compression of a long document (scripted extractor, offline)."""

from __future__ import annotations

import time
from itertools import islice
from typing import Any

from langchain_niche.compression import EntityCompressor
from langchain_niche.compression.synthetic import (
    SyntheticCorpus,
    check_gold,
    make_corpus,
    scripted_extractor,
)
from langchain_niche.demo.console import ELLIPSIS, Console, format_seconds

__all__ = ["TITLE", "run"]

TITLE = "Entity compression: a long report replaced by the entities a task needs"

_CARDS_SHOWN = 3


def _revenue(value: Any) -> float:
    """'$412.7 million' -> 412.7 (the first value when the sources disagree)."""
    text = value[0] if isinstance(value, list) else str(value)
    return float(text.strip("$").split()[0].replace(",", ""))


def _is_title(form: str) -> bool:
    return form.startswith("Dr. ")


def _is_acronym(form: str) -> bool:
    return form.isupper() and " " not in form


def _is_upper_name(form: str) -> bool:
    return form.isupper() and " " in form


def _other_forms(corpus: SyntheticCorpus) -> list[str]:
    """A title form, an acronym and an upper-case form the text really uses for its entities."""
    forms = []
    for test in (_is_title, _is_acronym, _is_upper_name):
        form = next(
            (
                f
                for e in corpus.entities
                for f in (*e.introduced_aliases, *e.later_forms)
                if test(f) and f in corpus.text
            ),
            None,
        )
        if form is not None:
            forms.append(repr(form))
    return forms


def run(out: Console) -> None:
    """Compress a long synthetic report, check its known facts, condition on a task, decide."""
    corpus = make_corpus(seed=7, companies=6, people=10, products=6)
    document = corpus.document(source="annual-report.txt")
    out.wrap(
        f"Document: a {len(corpus.text):,}-character synthetic report about "
        f"{len(corpus.entities)} companies, people and products, with {len(corpus.facts)} "
        "known facts between paragraphs of unrelated prose."
    )
    out.wrap(
        "Extractor: SCRIPTED (not a language model) - for each chunk it reports exactly the "
        "entities and facts the chunk states, as a faithful model would. With a real model, "
        "pass llm=ChatOpenAI(...) instead."
    )

    compressor = EntityCompressor(
        scripted_extractor(corpus), chunk_tokens=400, chunk_overlap=40, max_concurrency=8
    )
    start = time.perf_counter()
    result = compressor.compress_with_graph([document])
    elapsed = time.perf_counter() - start
    (compressed,) = result.documents
    meta = compressed.metadata
    out.subheading("Compression")
    out.table(
        ["chunks", "original tokens", "compressed tokens", "ratio", "time"],
        [
            [
                meta["chunks"],
                f"{meta['origin_tokens']:,}",
                f"{meta['compressed_tokens']:,}",
                f"{meta['compression_ratio']:.1f}x",
                format_seconds(elapsed),
            ]
        ],
        right=(0, 1, 2, 3, 4),
    )
    out.wrap(
        "Tokens: approximate_token_count (an offline estimate of a BPE tokenizer's count); "
        "ratio: original / compressed tokens; time: chunking, extraction by the scripted "
        "extractor, grounding, merging and rendering."
    )
    report = check_gold(corpus, result.graph, compressed.page_content)
    forms = _other_forms(corpus)
    out.wrap(
        f"Known facts in the compressed text: {report.facts_rendered}/{report.facts}; "
        f"entities: {report.graph_entities} for {report.gold_entities} real ones "
        f"({report.duplicates} duplicates"
        + (
            f", although the text also calls them {', '.join(forms)} and the like)."
            if forms
            else ")."
        )
    )

    cards = compressed.page_content.split("\n\n")
    out.subheading(f"The first {_CARDS_SHOWN} of {len(cards)} entity cards (what the model reads)")
    out.print("\n\n".join(islice(cards, _CARDS_SHOWN)))
    if len(cards) > _CARDS_SHOWN:
        out.print(f"{ELLIPSIS} ({len(cards) - _CARDS_SHOWN} more cards)")

    company = next(e for e in corpus.entities if e.type == "Company")
    question = f"Who works for {company.name} and where is it headquartered?"
    out.subheading("Conditioned on a task (relevant entities and their neighbours only)")
    out.print(f"task: {question!r}")
    (focused,) = compressor.compress_documents([document], query=question)
    out.print(focused.page_content)
    out.print(
        f"-> {focused.metadata['compressed_tokens']:,} tokens instead of "
        f"{focused.metadata['origin_tokens']:,} ({focused.metadata['compression_ratio']:.0f}x "
        "fewer; approximate counts)"
    )

    out.subheading("Structured records: decide without the model (companies by revenue)")
    rows = [r for r in result.graph.to_records() if r["entity_type"] == "Company"]
    rows.sort(key=lambda r: -_revenue(r.get("revenue", "$0")))
    out.table(
        ["company", "aliases", "founded", "headquarters", "revenue"],
        [
            [
                r["entity"],
                ", ".join(r["aliases"]),
                r.get("founded"),
                r.get("headquarters"),
                r.get("revenue"),
            ]
            for r in rows
        ],
    )
    facts = result.graph.to_records("facts")
    out.wrap(
        f"{len(facts)} facts, each with its evidence (document, chunk, character span); "
        f"e.g. {facts[0]['entity']}.{facts[0]['property']} = {facts[0]['value']!r} at "
        f"characters {facts[0]['start']}-{facts[0]['end']}."
    )

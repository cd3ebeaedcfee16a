"""The seeded gold corpus and its faithful scripted extractor (used by the benchmark)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from langchain_niche import EntityCompressor
from langchain_niche.compression.synthetic import check_gold, make_corpus, scripted_extractor


def test_corpus_is_seeded() -> None:
    assert make_corpus(3).text == make_corpus(3).text
    assert make_corpus(3).text != make_corpus(4).text
    corpus = make_corpus(3, companies=2, people=3, products=1)
    assert len(corpus.entities) == 6
    assert len(corpus.facts) == 2 * 4 + 3 * 3 + 1 * 3
    assert all(fact.sentence in corpus.text for fact in corpus.facts)
    later = [form for e in corpus.entities for form in e.later_forms]
    assert sum(form in corpus.text for form in later) >= len(later) // 2


@pytest.mark.parametrize("method", ["structured", "json"])
def test_gold_facts_survive_compression(method: str) -> None:
    corpus = make_corpus(11)
    compressor = EntityCompressor(
        scripted_extractor(corpus), chunk_tokens=300, chunk_overlap=30, extraction_method=method
    )
    result = compressor.compress_with_graph([corpus.document()])
    (doc,) = result.documents
    report = check_gold(corpus, result.graph, doc.page_content)
    assert report.missing == []
    assert report.fact_recall == 1.0
    assert report.duplicates == 0
    assert report.unmatched == 0
    assert report.relations_in_graph == report.relations
    assert doc.metadata["compression_ratio"] >= 5


def test_gold_check_detects_losses() -> None:
    corpus = make_corpus(5)
    result = EntityCompressor(
        scripted_extractor(corpus), chunk_tokens=300, fuzzy_threshold=1.0, partial_name_types=[]
    ).compress_with_graph([Document(page_content=corpus.text)])
    report = check_gold(corpus, result.graph, result.documents[0].page_content)
    assert report.duplicates > 0, "without partial-name merging, surnames stay separate"
    report = check_gold(corpus, result.graph, "")
    assert report.facts_rendered == 0
    assert len(report.missing) == report.facts

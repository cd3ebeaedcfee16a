"""A document's output holds only entities grounded in that document (issue 10, item 2).

Two documents, a model answering with the same entities (and a relation) for
both: the second document must pass through as "empty", exactly as when it is
compressed alone, and never come back as the first document's entity cards.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from langchain_niche import EntityCompressor
from langchain_niche.compression import ExtractedEntity, ExtractedRelation, Extraction
from langchain_niche.testing import ScriptedChatModel

ACME = (
    "Acme Robotics Inc. was founded in 1998 in Oslo. Mira Okafor is the CTO of Acme Robotics Inc."
)
PARIS = "The weather in Paris was mild"

SAME_ANSWER = Extraction(
    entities=[
        ExtractedEntity(name="Acme Robotics Inc.", type="Company", properties={"founded": "1998"}),
        ExtractedEntity(name="Mira Okafor", type="Person", properties={"role": "CTO"}),
    ],
    relations=[
        ExtractedRelation(source="Mira Okafor", relation="works for", target="Acme Robotics Inc.")
    ],
)


def same_answer_model() -> ScriptedChatModel:
    return ScriptedChatModel(responses=[SAME_ANSWER], cycle=True)


def documents() -> list[Document]:
    return [
        Document(page_content=ACME, metadata={"source": "acme"}),
        Document(page_content=PARIS, metadata={"source": "paris"}),
    ]


def assert_passed_through(doc: Document) -> None:
    assert doc.page_content == PARIS
    assert doc.metadata["compression"] == "empty"
    assert doc.metadata["entities"] == []
    assert doc.metadata["relations"] == []
    assert doc.metadata["grounding"]["hallucinated_entities"] == 2


def assert_acme_compressed(doc: Document) -> None:
    assert doc.metadata["compression"] == "compressed"
    names = {entity["name"] for entity in doc.metadata["entities"]}
    assert names == {"Acme Robotics Inc.", "Mira Okafor"}
    assert [r["relation"] for r in doc.metadata["relations"]] == ["works_for"]


@pytest.mark.parametrize("grounding", ["drop", "flag"])
def test_second_document_passes_through_as_when_alone(grounding: str) -> None:
    compressor = EntityCompressor(llm=same_answer_model(), grounding=grounding)
    (alone,) = compressor.transform_documents(documents()[1:])
    first, second = compressor.transform_documents(documents())
    if grounding == "drop":
        assert_passed_through(alone)
        assert_passed_through(second)
    else:  # flagged entities are the document's own (unverified) mentions, as when alone
        assert second.page_content == alone.page_content
        assert "(unverified)" in second.page_content
    assert_acme_compressed(first)
    assert second.metadata["source"] == "paris"


async def test_async_path_is_the_same() -> None:
    compressor = EntityCompressor(llm=same_answer_model())
    first, second = await compressor.atransform_documents(documents())
    assert_acme_compressed(first)
    assert_passed_through(second)


def test_every_output_only_has_entities_with_evidence_in_its_document() -> None:
    compressor = EntityCompressor(llm=same_answer_model())
    result = compressor.compress_with_graph(documents())
    for index, doc in enumerate(result.documents):
        for entity in doc.metadata["entities"]:
            assert entity["evidence"], entity
            assert all(ev["document"] == index for ev in entity["evidence"]), entity
        for relation in doc.metadata["relations"]:
            assert all(ev["document"] == index for ev in relation["evidence"]), relation


def test_combined_documents_still_merge_across_documents() -> None:
    compressor = EntityCompressor(llm=same_answer_model(), combine_documents=True)
    combined, *passed = compressor.transform_documents(documents())
    assert {e["name"] for e in combined.metadata["entities"]} == {
        "Acme Robotics Inc.",
        "Mira Okafor",
    }
    assert [doc.page_content for doc in passed] == [PARIS]


def test_a_relation_between_entities_named_in_the_text_is_kept() -> None:
    # the second document only relates two entities the first one describes: it names
    # both, so the relation (and the endpoints, without the first document's values) stay
    text = "Mira Okafor works for Acme Robotics Inc. since 2001."
    relation_only = Extraction(entities=[], relations=SAME_ANSWER.relations)
    model = ScriptedChatModel(responses=[SAME_ANSWER, relation_only])
    compressor = EntityCompressor(llm=model, max_concurrency=1)
    first, second = compressor.transform_documents(
        [Document(page_content=ACME), Document(page_content=text)]
    )
    assert_acme_compressed(first)
    assert [r["relation"] for r in second.metadata["relations"]] == ["works_for"]
    for entity in second.metadata["entities"]:
        assert entity["properties"] == {}, entity


def test_flagged_values_are_verified_per_document() -> None:
    compressor = EntityCompressor(llm=same_answer_model(), grounding="flag")
    first, second = compressor.transform_documents(documents())
    verified = {
        doc.metadata["source"]: [
            value["grounded"]
            for entity in doc.metadata["entities"]
            for values in entity["properties"].values()
            for value in values
        ]
        for doc in (first, second)
    }
    assert verified == {"acme": [True, True], "paris": [False, False]}


class FixedRetriever(BaseRetriever):
    docs: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(self.docs)

    async def _aget_relevant_documents(self, query: str, **kwargs: Any) -> list[Document]:
        return list(self.docs)


async def test_through_contextual_compression_retriever() -> None:
    retriever = ContextualCompressionRetriever(
        base_compressor=EntityCompressor(llm=same_answer_model()),
        base_retriever=FixedRetriever(docs=documents()),
    )
    for first, second in (
        retriever.invoke("Who is the CTO of Acme?"),
        await retriever.ainvoke("Who is the CTO of Acme?"),
    ):
        assert first.metadata["compression"] == "compressed"
        assert "Mira Okafor" in first.page_content
        assert_passed_through(second)

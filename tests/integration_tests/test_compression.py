"""Entity compression in real LangChain composition and against the OpenAI client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_classic.retrievers.document_compressors import DocumentCompressorPipeline
from langchain_core.callbacks import BaseCallbackHandler, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableParallel, RunnablePassthrough
from langchain_openai import ChatOpenAI
from langchain_text_splitters import RecursiveCharacterTextSplitter

from langchain_niche import EntityCompressor
from langchain_niche.testing import ScriptedCall, ScriptedChatModel
from tests.support.compression import ACME, FILLER, OKAFOR, long_text, rule_extraction, rule_model
from tests.support.openai_server import FakeOpenAIServer

DOCS = [
    Document(page_content=long_text(ACME), metadata={"source": "acme.txt"}),
    Document(page_content=long_text(OKAFOR), metadata={"source": "okafor.txt"}),
]


class ListRetriever(BaseRetriever):
    """Returns fixed documents (a stand-in for a vector store)."""

    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(self.documents)


class ModelStarts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.count = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.count += 1


def compressor(model: Any = None, **kwargs: Any) -> EntityCompressor:
    kwargs.setdefault("chunk_tokens", 200)
    kwargs.setdefault("chunk_overlap", 0)
    return EntityCompressor(model or rule_model(), **kwargs)


def format_docs(documents: list[Document]) -> str:
    return "\n\n".join(d.page_content for d in documents)


async def test_contextual_compression_retriever() -> None:
    retriever = ContextualCompressionRetriever(
        base_compressor=compressor(include_neighbors=False),
        base_retriever=ListRetriever(documents=DOCS),
    )
    starts = ModelStarts()
    docs = retriever.invoke(
        "What is the employee id of Mira Okafor?", config={"callbacks": [starts]}
    )
    assert starts.count > 0, "the retriever's callbacks reach the extraction model"
    acme, okafor = docs
    assert okafor.page_content.startswith("Mira Okafor [Person]\n- employee_id: EMP-48213")
    assert okafor.metadata["source"] == "okafor.txt"
    assert okafor.metadata["query_matched"] is True
    # Nothing in acme.txt is about the question: it is kept whole (compressed), never dropped.
    assert acme.metadata["query_matched"] is False
    assert "Acme Robotics Inc. [Company]" in acme.page_content
    adocs = await retriever.ainvoke("What is the employee id of Mira Okafor?")
    assert [d.page_content for d in adocs] == [d.page_content for d in docs]


def test_document_compressor_pipeline_split_then_compress() -> None:
    splitter = RecursiveCharacterTextSplitter(chunk_size=2000, chunk_overlap=0)
    pipeline = DocumentCompressorPipeline(
        transformers=[splitter, compressor(combine_documents=True)]
    )
    docs = pipeline.compress_documents(DOCS, query="Acme Robotics founded")
    combined = docs[0]
    assert combined.metadata["compression"] == "compressed"
    assert len(combined.metadata["sources"]) >= 2
    assert "Acme Robotics Inc. [Company] (aka ACME)\n- founded: 1998" in combined.page_content
    # Pieces without any entity pass through after the combined document.
    assert all(d.metadata["compression"] == "empty" for d in docs[1:])


def answerer() -> ScriptedChatModel:
    def respond(messages: list[Any], call: ScriptedCall) -> str:
        prompt = call.text
        assert "Context:\n" in prompt
        if "EMP-48213" in prompt and "works_for: Acme Robotics Inc." in prompt:
            return "Mira Okafor (EMP-48213) works for Acme Robotics Inc."
        return "I don't know."

    return ScriptedChatModel(responder=respond)


PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Answer from the context.\nContext:\n{context}"), ("human", "{question}")]
)


async def test_lcel_chain_with_the_compressor_as_a_step() -> None:
    retriever = ListRetriever(documents=DOCS)
    chain = (
        {
            "context": retriever | compressor() | format_docs,
            "question": RunnablePassthrough(),
        }
        | PROMPT
        | answerer()
        | StrOutputParser()
    )
    question = "Who has employee id EMP-48213 and where does she work?"
    assert chain.invoke(question) == "Mira Okafor (EMP-48213) works for Acme Robotics Inc."
    assert (
        chain.batch([question, question], config={"max_concurrency": 2})
        == ["Mira Okafor (EMP-48213) works for Acme Robotics Inc."] * 2
    )
    streamed = "".join([piece async for piece in chain.astream(question)])
    assert streamed == "Mira Okafor (EMP-48213) works for Acme Robotics Inc."


def test_lcel_with_the_query_passed_to_the_compressor() -> None:
    retriever = ListRetriever(documents=DOCS)
    compress = RunnableParallel(documents=retriever, query=RunnablePassthrough()) | compressor(
        include_neighbors=False
    )
    docs = compress.invoke("EMP-48213")
    assert docs[1].page_content.startswith("Mira Okafor [Person]")
    assert docs[1].metadata["query_matched"] is True


# -- the real langchain-openai client against the local OpenAI-compatible server ---------
def openai_responder(server: FakeOpenAIServer, fail_on: str | None = None) -> None:
    def respond(body: dict[str, Any]) -> Any:
        chunk = body["messages"][-1]["content"]
        chunk = chunk.split("<document>\n", 1)[-1].rsplit("\n</document>", 1)[0]
        if fail_on and fail_on in chunk:
            return {"status": 500, "error": "upstream exploded"}
        extraction = rule_extraction(chunk).model_dump()
        if body.get("tools"):
            return {"tool_calls": [{"name": "Extraction", "arguments": extraction}]}
        return json.dumps(extraction)

    server.responder = respond


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
async def test_chat_openai_structured_output(openai_server: FakeOpenAIServer, method: str) -> None:
    openai_responder(openai_server)
    llm = ChatOpenAI(
        model="gpt-test", base_url=openai_server.base_url, api_key="test", max_retries=0
    )
    c = compressor(llm, structured_output_kwargs={"method": method})
    (doc,) = c.transform_documents([Document(page_content=long_text(ACME, OKAFOR))])
    assert doc.metadata["compression"] == "compressed"
    assert "Mira Okafor [Person]\n- employee_id: EMP-48213" in doc.page_content
    assert "- works_for: Acme Robotics Inc." in doc.page_content
    request = openai_server.requests[0]
    if method == "function_calling":
        (tool,) = request["tools"]
        assert tool["function"]["name"] == "Extraction"
        assert request["tool_choice"]["function"]["name"] == "Extraction"
        assert "response_format" not in request
    else:
        schema = request["response_format"]["json_schema"]
        assert schema["name"] == "Extraction"
        assert "entities" in schema["schema"]["properties"]
        assert "tools" not in request
    (adoc,) = await c.atransform_documents([Document(page_content=long_text(ACME, OKAFOR))])
    assert adoc.page_content == doc.page_content


def test_chat_openai_defaults_to_function_calling(openai_server: FakeOpenAIServer) -> None:
    # OpenAI's default strict JSON schema cannot express the free-form properties object,
    # so without an explicit method the compressor asks for a tool call named Extraction.
    openai_responder(openai_server)
    llm = ChatOpenAI(
        model="gpt-test", base_url=openai_server.base_url, api_key="test", max_retries=0
    )
    (doc,) = compressor(llm).transform_documents([Document(page_content=long_text(ACME))])
    assert doc.metadata["compression"] == "compressed"
    request = openai_server.requests[0]
    assert [tool["function"]["name"] for tool in request["tools"]] == ["Extraction"]
    assert "response_format" not in request


def test_chat_openai_json_in_text(openai_server: FakeOpenAIServer) -> None:
    openai_responder(openai_server)
    llm = ChatOpenAI(
        model="gpt-test", base_url=openai_server.base_url, api_key="test", max_retries=0
    )
    (doc,) = compressor(llm, extraction_method="json").transform_documents(
        [Document(page_content=long_text(ACME))]
    )
    assert "Acme Robotics Inc. [Company] (aka ACME)" in doc.page_content
    assert all("tools" not in r and "response_format" not in r for r in openai_server.requests)


def test_chat_openai_http_errors_fail_only_their_chunk(openai_server: FakeOpenAIServer) -> None:
    openai_responder(openai_server, fail_on="Mira Okafor")
    llm = ChatOpenAI(
        model="gpt-test", base_url=openai_server.base_url, api_key="test", max_retries=0
    )
    docs = [Document(page_content=long_text(ACME)), Document(page_content=OKAFOR + " " + FILLER)]
    acme, okafor = compressor(llm, max_retries=1).transform_documents(docs)
    assert acme.metadata["compression"] == "compressed"
    assert okafor.metadata["compression"] == "failed"
    assert okafor.page_content == docs[1].page_content
    assert "Error code: 500 - upstream exploded" in okafor.metadata["compression_errors"][0]

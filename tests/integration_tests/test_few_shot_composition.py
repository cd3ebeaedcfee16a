"""JaccardExampleSelector inside real LangChain composition."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import (
    ChatPromptTemplate,
    FewShotChatMessagePromptTemplate,
    FewShotPromptTemplate,
    MessagesPlaceholder,
    PromptTemplate,
)
from langchain_openai import ChatOpenAI

from langchain_niche import JaccardExampleSelector
from langchain_niche.testing import ScriptedChatModel
from tests.support.openai_server import FakeOpenAIServer

EXAMPLES = [
    {"input": "happy", "output": "sad"},
    {"input": "tall", "output": "short"},
    {"input": "energetic", "output": "lethargic"},
    {"input": "sunny day", "output": "rainy day"},
    {"input": "windy day", "output": "calm day"},
]


def string_prompt(selector: JaccardExampleSelector) -> FewShotPromptTemplate:
    return FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=PromptTemplate.from_template("Input: {input}\nOutput: {output}"),
        prefix="Give the antonym of every input.",
        suffix="Input: {input}\nOutput:",
        input_variables=["input"],
    )


def chat_prompt(selector: JaccardExampleSelector) -> ChatPromptTemplate:
    few_shot = FewShotChatMessagePromptTemplate(
        example_selector=selector,
        example_prompt=ChatPromptTemplate.from_messages([("human", "{input}"), ("ai", "{output}")]),
        input_variables=["input"],
    )
    return ChatPromptTemplate.from_messages(
        [
            ("system", "You give antonyms. Reply in {language}."),
            MessagesPlaceholder("history"),
            few_shot,
            ("human", "{input}"),
        ]
    )


def test_few_shot_prompt_template_pipes_selected_examples_to_the_model() -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, k=2, input_keys=["input"])
    model = ScriptedChatModel(responses=["cloudy night"])
    chain = string_prompt(selector) | model | StrOutputParser()
    assert chain.invoke({"input": "sunny night"}) == "cloudy night"
    prompt_text = model.calls[0].text
    assert "Input: sunny day\nOutput: rainy day" in prompt_text
    # Only "sunny day" shares a word with the input: zero-overlap examples are never padded in.
    assert prompt_text.count("Input:") == 1 + 1


def test_chat_template_with_extra_variables_and_history() -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, k=1)  # input_keys inferred per input
    model = ScriptedChatModel(responses=["short"])
    chain = chat_prompt(selector) | model
    history = [HumanMessage("hi"), AIMessage("hello")]
    chain.invoke({"input": "tall", "language": "English", "history": history})
    messages = model.calls[0].messages
    assert isinstance(messages[0], SystemMessage)
    assert [m.content for m in messages[1:]] == ["hi", "hello", "tall", "short", "tall"]


def test_batch_and_async_streaming() -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, k=1, input_keys=["input"])
    model = ScriptedChatModel(
        responder=lambda messages, call: f"reply to {messages[-1].content.splitlines()[-2]}"
    )
    chain = string_prompt(selector) | model | StrOutputParser()
    outputs = chain.batch(
        [{"input": "happy"}, {"input": "tall"}, {"input": "calm windy"}],
        config={"max_concurrency": 2},
    )
    assert outputs == [
        "reply to Input: happy",
        "reply to Input: tall",
        "reply to Input: calm windy",
    ]
    prompts = sorted(call.text for call in model.calls)
    assert any("Input: windy day\nOutput: calm day" in p for p in prompts)


async def test_astream_and_abatch() -> None:
    selector = JaccardExampleSelector(examples=EXAMPLES, k=1, input_keys=["input"])
    model = ScriptedChatModel(responses=["rainy and cold"], cycle=True)
    chain = chat_prompt(selector) | model | StrOutputParser()
    chunks = [
        chunk async for chunk in chain.astream({"input": "sunny", "language": "en", "history": []})
    ]
    assert "".join(chunks) == "rainy and cold"
    assert len(chunks) > 1
    assert "sunny day" in model.calls[0].text
    results = await chain.abatch(
        [{"input": x, "language": "en", "history": []} for x in ("tall", "happy")]
    )
    assert results == ["rainy and cold"] * 2


def test_selector_callbacks_see_the_whole_chain() -> None:
    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.prompts: list[Any] = []

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            self.prompts.append(messages)

    recorder = Recorder()
    selector = JaccardExampleSelector(examples=EXAMPLES, k=1, input_keys=["input"])
    chain = string_prompt(selector) | ScriptedChatModel(responses=["x"])
    chain.invoke({"input": "energetic"}, config={"callbacks": [recorder]})
    assert "Input: energetic\nOutput: lethargic" in recorder.prompts[0][0][0].content


@pytest.mark.parametrize("stream", [False, True])
def test_with_chat_openai_against_a_local_server(
    openai_server: FakeOpenAIServer, stream: bool
) -> None:
    openai_server.responder = lambda body: "short"
    selector = JaccardExampleSelector(examples=EXAMPLES, k=2, input_keys=["input"])
    model = ChatOpenAI(
        model="gpt-4o-mini", base_url=openai_server.base_url, api_key="test", max_retries=0
    )
    chain = chat_prompt(selector) | model | StrOutputParser()
    variables = {"input": "tall energetic", "language": "English", "history": []}
    result = "".join(chain.stream(variables)) if stream else chain.invoke(variables)
    assert result == "short"
    sent = openai_server.requests[-1]["messages"]
    contents = [m["content"] for m in sent]
    assert contents[1:5] == ["tall", "short", "energetic", "lethargic"]
    assert contents[-1] == "tall energetic"

"""A scripted, deterministic chat model for tests, offline demos and notebooks.

langchain-core's fake chat models cannot call tools (``bind_tools`` raises), so
``with_structured_output`` does not work with them. :class:`ScriptedChatModel`
answers from a script (a list of replies, or a function of the prompt), supports
``bind_tools`` / ``with_structured_output``, streaming, native async, a fixed
latency (for benchmarks), injected failures and usage metadata, and records
every call. It never contacts a network and is clearly *not* a language model:
its answers are whatever the script says.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolCall,
    ToolCallChunk,
    get_buffer_string,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from langchain_niche.tokens import approximate_token_count

__all__ = [
    "Reply",
    "ScriptExhaustedError",
    "ScriptedCall",
    "ScriptedChatModel",
    "tool_call",
    "usage_metadata",
]

Reply = str | AIMessage | BaseModel | dict[str, Any] | BaseException
"""What a script may answer: text, a message, a pydantic object or dict
(answered as a call of the first bound tool), or an exception to raise."""


class ScriptExhaustedError(RuntimeError):
    """The scripted model was called more often than its script has replies."""


@dataclass(frozen=True)
class ScriptedCall:
    """One call received by a :class:`ScriptedChatModel`."""

    index: int
    """0-based call number."""
    messages: list[BaseMessage]
    """The prompt."""
    tools: list[dict[str, Any]] = field(default_factory=list)
    """Bound tools in OpenAI format (empty without ``bind_tools``)."""
    tool_choice: Any = None
    """The ``tool_choice`` bound with the tools."""

    @property
    def text(self) -> str:
        """The prompt as one string (``get_buffer_string``)."""
        return get_buffer_string(self.messages)

    @property
    def tool_names(self) -> list[str]:
        """Names of the bound tools."""
        return [tool["function"]["name"] for tool in self.tools]


def usage_metadata(input_tokens: int, output_tokens: int) -> UsageMetadata:
    """The ``usage_metadata`` of a reply that read and wrote these many tokens."""
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        input_token_details={},
        output_token_details={},
    )


def tool_call(name: str, args: dict[str, Any], call_id: str | None = None) -> AIMessage:
    """Build an ``AIMessage`` that calls one tool.

    Args:
        name: Tool name (for ``with_structured_output(Model)``, the class name).
        args: The arguments.
        call_id: Tool call id (random when omitted).

    Returns:
        The message.
    """
    return AIMessage(
        content="",
        tool_calls=[
            ToolCall(
                name=name,
                args=args,
                id=call_id or f"call_{uuid.uuid4().hex[:12]}",
                type="tool_call",
            )
        ],
    )


class ScriptedChatModel(BaseChatModel):
    """A chat model whose replies come from a script: for tests, demos, notebooks.

    Give either ``responses`` (consumed in order; ``cycle=True`` repeats them) or
    ``responder``, a function ``(messages, call) -> Reply`` that computes the
    reply from the prompt. Replies that are pydantic objects or dicts become a
    call of the first bound tool, so ``with_structured_output(Schema)`` works.

    Example:
        ```python
        from pydantic import BaseModel
        from langchain_niche.testing import ScriptedChatModel

        class Answer(BaseModel):
            value: int

        model = ScriptedChatModel(responses=["hello", Answer(value=42)])
        model.invoke("hi").content  # 'hello'
        model.with_structured_output(Answer).invoke("the answer?")  # Answer(value=42)
        model.calls[0].text  # 'Human: hi'
        ```
    """

    responses: list[Any] = Field(default_factory=list)
    """Replies, in call order."""
    responder: Callable[[list[BaseMessage], ScriptedCall], Any] | None = None
    """Computes the reply from the prompt (used when ``responses`` is empty)."""
    cycle: bool = False
    """Repeat ``responses`` instead of failing when they run out."""
    latency: float = 0.0
    """Seconds each call takes (``time.sleep`` / ``asyncio.sleep``)."""
    model_name: str = "scripted"
    """Reported as ``response_metadata["model_name"]``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: list[ScriptedCall] = PrivateAttr(default_factory=list)
    _counter: Iterator[int] = PrivateAttr(default_factory=itertools.count)

    @property
    def _llm_type(self) -> str:
        return "scripted-chat-model"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @property
    def calls(self) -> list[ScriptedCall]:
        """Every call received so far (a copy), in order of arrival."""
        with self._lock:
            return list(self._calls)

    def reset(self) -> None:
        """Forget recorded calls and restart the script."""
        with self._lock:
            self._calls.clear()
            self._counter = itertools.count()

    # -- tools -----------------------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; the script sees them in ``call.tools``.

        Args:
            tools: Tools (pydantic classes, functions, dicts, BaseTools).
            tool_choice: Recorded in ``call.tool_choice``.
            **kwargs: Further bound arguments.

        Returns:
            The model with the tools bound.
        """
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    # -- the script ------------------------------------------------------------------
    def _next_reply(
        self, messages: list[BaseMessage], kwargs: dict[str, Any]
    ) -> tuple[ScriptedCall, Any]:
        with self._lock:
            index = next(self._counter)
            call = ScriptedCall(
                index=index,
                messages=list(messages),
                tools=list(kwargs.get("tools") or []),
                tool_choice=kwargs.get("tool_choice"),
            )
            self._calls.append(call)
            if self.responses:
                if index < len(self.responses):
                    return call, self.responses[index]
                if self.cycle:
                    return call, self.responses[index % len(self.responses)]
                msg = f"ScriptedChatModel received call {index + 1} but its script has {len(self.responses)} replies"
                raise ScriptExhaustedError(msg)
        if self.responder is None:
            msg = "ScriptedChatModel needs responses=[...] or responder=..."
            raise ScriptExhaustedError(msg)
        return call, self.responder(list(messages), call)

    def _to_message(self, reply: Any, call: ScriptedCall) -> AIMessage:
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, str):
            message = AIMessage(content=reply)
        elif isinstance(reply, AIMessage):
            message = reply.model_copy()
        elif isinstance(reply, BaseModel | dict):
            if not call.tools:
                msg = "a structured reply needs bound tools (bind_tools / with_structured_output)"
                raise TypeError(msg)
            args = reply.model_dump(mode="json") if isinstance(reply, BaseModel) else dict(reply)
            message = tool_call(call.tool_names[0], args)
        else:
            msg = f"unsupported scripted reply of type {type(reply).__name__}"
            raise TypeError(msg)
        if message.usage_metadata is None:
            text_out = str(message.text)
            if message.tool_calls:
                text_out += str([tc["args"] for tc in message.tool_calls])
            message.usage_metadata = usage_metadata(
                approximate_token_count(call.text), approximate_token_count(text_out)
            )
        message.response_metadata = {**message.response_metadata, "model_name": self.model_name}
        if message.id is None:
            message.id = f"scripted-{call.index}"
        return message

    # -- BaseChatModel hooks ---------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call, reply = self._next_reply(messages, kwargs)
        if self.latency:
            time.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=self._to_message(reply, call))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        call, reply = self._next_reply(messages, kwargs)
        if self.latency:
            await asyncio.sleep(self.latency)
        return ChatResult(generations=[ChatGeneration(message=self._to_message(reply, call))])

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        text = message.content if isinstance(message.content, str) else message.text
        pieces = [piece for piece in text.replace(" ", " \x00").split("\x00") if piece] or [""]
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            if i < last:
                yield AIMessageChunk(content=piece, id=message.id)
                continue
            yield AIMessageChunk(
                content=piece,
                id=message.id,
                tool_call_chunks=[
                    ToolCallChunk(
                        name=tc["name"],
                        args=_json(tc["args"]),
                        id=tc["id"],
                        index=j,
                        type="tool_call_chunk",
                    )
                    for j, tc in enumerate(message.tool_calls)
                ],
                usage_metadata=message.usage_metadata,
                response_metadata=dict(message.response_metadata),
                chunk_position="last",
            )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        result = self._generate(messages, stop=stop, run_manager=run_manager, **kwargs)
        message = result.generations[0].message
        assert isinstance(message, AIMessage)
        for chunk in self._chunks(message):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager:
                run_manager.on_llm_new_token(str(chunk.content), chunk=generation)
            yield generation

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        result = await self._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        message = result.generations[0].message
        assert isinstance(message, AIMessage)
        for chunk in self._chunks(message):
            generation = ChatGenerationChunk(message=chunk)
            if run_manager:
                await run_manager.on_llm_new_token(str(chunk.content), chunk=generation)
            yield generation


def _json(args: dict[str, Any]) -> str:
    import json  # noqa: PLC0415 - only needed when streaming tool calls

    return json.dumps(args, ensure_ascii=False)

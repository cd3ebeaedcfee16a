"""The student's default few-shot chat prompt (re-exported by :mod:`~langchain_niche.routing.router`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.prompts import ChatPromptTemplate, FewShotChatMessagePromptTemplate

from langchain_niche.routing.answers import EXAMPLES_VAR

__all__ = ["DEFAULT_SYSTEM_PROMPT", "default_student_prompt"]

DEFAULT_SYSTEM_PROMPT = (
    "Answer the last message the way the example answers do: same task, same form, the answer only."
)
"""The system message of the student's default few-shot prompt."""


class _GivenExamples(BaseExampleSelector):
    """Hands the router's already-selected examples to ``FewShotChatMessagePromptTemplate``."""

    def add_example(self, example: dict[str, str]) -> Any:
        msg = "the router's examples are chosen per call; add examples to the router's selector"
        raise NotImplementedError(msg)

    def select_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        return list(input_variables.get(EXAMPLES_VAR) or [])

    async def aselect_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        return self.select_examples(input_variables)  # no I/O: no executor hop


def default_student_prompt(
    input_keys: Sequence[str],
    output_key: str,
    *,
    example_prompt: ChatPromptTemplate | None = None,
    system_prompt: str = DEFAULT_SYSTEM_PROMPT,
) -> ChatPromptTemplate:
    """The few-shot chat prompt a chat-model student gets.

    Each example becomes a human message (its input fields) and an AI message (its
    answer); the input follows as the last human message.

    Args:
        input_keys: The compared fields.
        output_key: The answer field.
        example_prompt: Formats one example (default: human fields, AI answer).
        system_prompt: The system message.

    Returns:
        A prompt over ``{**inputs, "examples": [...]}``.
    """
    if len(input_keys) == 1:
        human = f"{{{input_keys[0]}}}"
    else:
        human = "\n".join(f"{key}: {{{key}}}" for key in input_keys)
    if example_prompt is None:
        example_prompt = ChatPromptTemplate.from_messages(
            [("human", human), ("ai", f"{{{output_key}}}")]
        )
    few_shot = FewShotChatMessagePromptTemplate(
        example_selector=_GivenExamples(),
        example_prompt=example_prompt,
        input_variables=[EXAMPLES_VAR],
    )
    return ChatPromptTemplate.from_messages([("system", system_prompt), few_shot, ("human", human)])

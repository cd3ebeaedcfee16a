"""Demo section: PEARL plans and executes over a long document, offline.

The document is real and long: chapters of the Python language reference that
ship with every Python (``pydoc_data.topics``). The model is **scripted**, not a
language model: it writes fixed plans (the first one deliberately invalid, to
show self-correction) and executes steps by *extracting* the sentences of its
prompt that share the most words with the step's arguments. Everything else,
planning prompts, plan parsing, the dependency graph, concurrency, splitting the
document to fit the context budget, combining partial results, the trace, is
the real PEARL doing real work.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langchain_niche.demo.console import Console, format_seconds
from langchain_niche.pearl import PEARL, Argument, PEARLEvent, PEARLResult
from langchain_niche.pearl.prompts import PLANNER_SYSTEM, STEP_SYSTEM
from langchain_niche.testing import ScriptedCall, ScriptedChatModel
from langchain_niche.text import default_tokenizer
from langchain_niche.tokens import approximate_token_count

__all__ = ["QUESTION", "TITLE", "extractive_model", "long_document", "run"]

TITLE = "PEARL: plan and execute over a long document (scripted model, real orchestration)"

QUESTION = (
    "How do the try statement and the with statement make sure clean-up code runs, "
    "and how do the two differ?"
)

TOPICS = ("compound", "exceptions", "execmodel", "context-managers")

FIRST_PLAN = """New actions:
- None

1. try_cleanup = FIND_GUARANTEE(CTX, "the finally clause of the try statement")
2. with_cleanup = FIND_X(CTX, "the with statement calls __exit__")"""

PLAN = """New actions:
- FIND_GUARANTEE(CTX, X) : Find what the document says X guarantees, and when.

1. try_cleanup = FIND_GUARANTEE(CTX, "the finally clause is executed when the try statement is left") : how try runs clean-up code
2. with_cleanup = FIND_GUARANTEE(CTX, "the with statement calls the context manager __exit__ method") : how with runs clean-up code
3. exceptions = FIND_X(CTX, "an exception raised inside the suite, handled or re-raised") : what happens to exceptions
4. difference = COMPARE(try_cleanup, with_cleanup) : how the two statements differ
5. answer = CONCAT(difference, exceptions) : the comparison, then what happens to exceptions"""

_STOP = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be by for from how in is it of on or the this to was what when "
        "which with who why does do make sure runs two",
    )
)
_BLOCK = re.compile(
    r"<(document|notes|input|findings)-[0-9a-f]+[^>]*>\n(.*?)\n</\1-[0-9a-f]+>", re.DOTALL
)
_OPTION = re.compile(r"^([A-Z])\. (.+)$", re.MULTILINE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")
_NOTHING = "Nothing relevant in this part."


def long_document() -> str:
    """Chapters of the Python language reference (shipped with Python): ~20k tokens."""
    import pydoc_data.topics  # noqa: PLC0415 - only the demo and the cookbook need it

    return "\n\n".join(pydoc_data.topics.topics[name] for name in TOPICS)


def _cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _keywords(text: str) -> set[str]:
    return {w for w in default_tokenizer(text) if w not in _STOP and len(w) > 2}


def _sentences(text: str) -> list[str]:
    """Prose sentences of a text (code samples, grammar rules and headings skipped)."""
    found: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line for line in paragraph.splitlines() if line.strip()]
        if not lines or any(
            line.startswith("   ") or set(line.strip()) <= set("=*-") for line in lines
        ):
            continue
        flat = " ".join(line.strip() for line in lines)
        found.extend(s.strip() for s in _SENTENCE.split(flat) if 5 <= len(s.split()) <= 60)
    return found


def _best(sentences: list[str], words: set[str], k: int) -> list[str]:
    """The ``k`` sentences sharing most keywords with ``words`` (at least 2), in text order, each once."""
    unique = list(dict.fromkeys(sentences))
    scored = [(len(words & _keywords(s)), -len(s), i, s) for i, s in enumerate(unique)]
    top = sorted((x for x in scored if x[0] >= 2), reverse=True)[:k]
    return [s for *_, s in sorted(top, key=lambda x: x[2])]


def _arguments(text: str) -> str:
    section = text.split("[Arguments]\n", 1)[-1].split("\n\n[", 1)[0]
    return " ".join(line.split(" = ", 1)[-1] for line in section.splitlines() if " = " in line)


def _choose(prompt: str) -> str:
    """The scripted option choice: the letter of the option sharing most words with the findings."""
    section = prompt.split("[Answer options]\n", 1)[-1].split("\n\n", 1)[0]
    options = _OPTION.findall(section)
    findings = _keywords(" ".join(body for _, body in _BLOCK.findall(prompt)))
    scores = [
        (len(findings & _keywords(text)), -i, letter) for i, (letter, text) in enumerate(options)
    ]
    return max(scores)[2] if scores else "A"


def _execute(prompt: str) -> str:
    """The scripted step: extract the sentences closest to the step's arguments."""
    words = _keywords(
        _arguments(prompt) + " " + prompt.split("[Step description]\n", 1)[-1].split("\n", 1)[0]
    )
    blocks = _BLOCK.findall(prompt)
    if any(kind == "notes" for kind, _ in blocks):  # combining the parts' results
        lines = [
            line.removeprefix("- ")
            for kind, body in blocks
            if kind == "notes"
            for line in body.splitlines()
            if line.startswith("- ")
        ]
        return "\n".join(f"- {s}" for s in _best(lines, words, 3)) or _NOTHING
    if any(kind == "document" for kind, _ in blocks):
        text = next(body for kind, body in blocks if kind == "document")
        found = _best(_sentences(text), words, 3)
        return "\n".join(f"- {s}" for s in found) or _NOTHING
    # a step over earlier outputs (COMPARE ...): from each input, the line closest to the question
    question = _keywords(prompt.split("[Original question]\n", 1)[-1].split("\n", 1)[0])
    picked: list[str] = []
    for body in (body for kind, body in blocks if kind == "input"):
        lines = [line.removeprefix("- ") for line in body.splitlines() if line.startswith("- ")]
        best = _best(lines, question | words, 1) or lines[:1]
        picked.extend(best)
    return "\n".join(f"({i}) {line}" for i, line in enumerate(picked, 1)) or _NOTHING


def _plan(question: str, attempt: int) -> str:
    """The scripted planner: a fixed plan for :data:`QUESTION` (invalid at first), else a generic one."""
    if question == QUESTION:
        return FIRST_PLAN if attempt == 1 else PLAN
    topic = Argument(kind="string", value=question).render()
    return f"""New actions:
- None

1. facts = FIND_X(CTX, {topic}) : what the document says about the question
2. reasons = FIND_REASON(CTX, {topic}) : the reasons the document gives
3. ans = CONCAT(facts, reasons) : both together"""


def extractive_model(latency: float = 0.05) -> ScriptedChatModel:
    """A clearly scripted model: fixed plans, extractive step outputs. Not an LLM."""
    attempts: dict[str, int] = {}

    def respond(messages: list[BaseMessage], call: ScriptedCall) -> Any:
        system = str(messages[0].text)
        if system == PLANNER_SYSTEM:
            question = str(messages[1].text).split("[Question]\n", 1)[-1].split("\n\n", 1)[0]
            attempts[question] = attempts.get(question, 0) + 1
            return _plan(question, attempts[question])
        prompt = call.text if system == STEP_SYSTEM else str(messages[-1].text)
        if "choose the best answer option" in prompt:
            return AIMessage(content=_choose(prompt))
        return AIMessage(content=_execute(prompt))

    return ScriptedChatModel(responder=respond, latency=latency, model_name="scripted-extractive")


def _timeline(result: PEARLResult, width: int = 48) -> list[str]:
    end = max((s.finished for s in result.steps), default=0.0) or 1.0
    start = min((s.started for s in result.steps), default=0.0)
    span = max(end - start, 1e-9)
    lines = []
    for step in result.steps:
        a = round((step.started - start) / span * width)
        b = max(a + 1, round((step.finished - start) / span * width))
        bar = " " * a + "#" * (b - a)
        lines.append(f"   {step.variable:<13} |{bar:<{width}}| {format_seconds(step.seconds)}")
    return lines


def run(out: Console) -> None:
    """Answer a question about the language reference with PEARL and show its trace."""
    document = long_document()
    model = extractive_model()
    pearl = PEARL(model, max_context_tokens=6000, reserved_output_tokens=500, max_concurrency=4)
    out.print(
        f"Document: {len(TOPICS)} chapters of the Python language reference ({len(document):,} "
        f"characters, ~{approximate_token_count(document):,} tokens); context budget: 6,000 tokens per prompt."
    )
    out.print(f"Question: {QUESTION}")
    out.print(
        "Model: ScriptedChatModel 'scripted-extractive' (fixed plans, extracts sentences; NOT an LLM)."
    )

    out.subheading("Progress, as PEARL.stream_progress() reports it (also custom events)")
    events: list[PEARLEvent] = []
    for event in pearl.stream_progress({"question": QUESTION, "document": document}):
        events.append(event)
        out.print(f"  {event.seconds:6.2f} s  {_cut(event.message, 110)}")
    result = events[-1].result
    assert result is not None

    out.subheading("Self-correction: the first plan was rejected with this error")
    for attempt in result.plan_attempts:
        status = "accepted" if attempt.error is None else f"rejected: {attempt.error}"
        out.wrap(f"attempt {attempt.attempt}: {status}", indent="  ")

    out.subheading("The accepted plan and its dependency graph")
    assert result.plan is not None
    out.print(result.plan.render())
    out.print(f"rounds: {result.plan.levels()}  (steps in one round run concurrently)")

    out.subheading("Steps: concurrency and splitting (timeline of the execution)")
    for line in _timeline(result):
        out.print(line)
    out.table(
        ["step", "action", "parts", "calls", "tokens in/out"],
        [
            (
                s.variable,
                s.action,
                "local" if s.local else s.chunks,
                s.usage.model_calls,
                f"{s.usage.input_tokens:,}/{s.usage.output_tokens:,}",
            )
            for s in result.steps
        ],
    )
    for note in result.notes:
        out.wrap(f"note: {note}", indent="  ")

    out.subheading("Answer (outputs of the steps no later step uses)")
    out.wrap(_cut(result.answer, 1200), indent="  ")
    out.print()
    out.print(
        f"Total: {result.usage.model_calls} model calls, {result.usage.input_tokens:,} input and "
        f"{result.usage.output_tokens:,} output tokens, {format_seconds(result.seconds)} "
        f"(each scripted call takes {format_seconds(model.latency)})."
    )

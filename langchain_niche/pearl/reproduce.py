"""PEARL vs zero-shot on QuALITY, side by side: the PEARL paper's evaluation.

Run ``python benchmarks/eval_pearl_quality.py --data QuALITY.v1.0.1.htmlstripped.dev
--model gpt-4o`` (or ``python -m langchain_niche.pearl.reproduce``) with
``OPENAI_API_KEY`` set and ``langchain-niche[openai]`` installed. The defaults are
the paper's setup:

* questions of the dev file annotated as needing long context (``--context long``;
  ``--ids FILE`` restricts to an exact list of question ids or positions);
* hard-wrapped lines joined (as the paper's preprocessing does);
* PEARL with the paper-structured prompts (``--prompt-style paper``), the planner
  not seeing the options, up to 8 plan attempts, temperature 0;
* the zero-shot baseline answering from the whole document without options, its
  answer mapped to an option by the same call PEARL uses;
* both graded by option position on the same rows.

``--offline`` runs the same harness with a scripted model (not a language model)
on a few questions written in QuALITY's format, so CI checks the command end to
end without a key; its accuracy means nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_niche.pearl.actions import DEFAULT_ACTIONS, ActionSet
from langchain_niche.pearl.baseline import ZeroShotQA
from langchain_niche.pearl.demonstrations import DEFAULT_DEMONSTRATIONS, load_demonstrations
from langchain_niche.pearl.errors import PlanParseError
from langchain_niche.pearl.evaluate import compare, format_reports
from langchain_niche.pearl.plan import parse_plan
from langchain_niche.pearl.quality import load_quality_jsonl
from langchain_niche.pearl.runnable import PEARL

__all__ = ["main", "offline_quality_file"]

_OFFLINE_QUESTIONS = [
    (
        "What does the finally clause of a try statement guarantee?",
        [
            "It runs only when the try suite raised no exception.",
            "It is executed whenever the try statement is left, whatever the reason.",
            "It silences every exception raised in the try suite.",
            "It runs before the except clauses are checked.",
        ],
        2,
    ),
    (
        "Which method of the context manager does the with statement call when the suite is left?",
        ["__enter__()", "__init__()", "__exit__()", "close()"],
        3,
    ),
    (
        "What happens to an exception that no except clause of a try statement matches?",
        [
            "It is ignored.",
            "The search for a handler continues in the surrounding code and the call stack.",
            "The interpreter restarts the try suite.",
            "It is converted into a warning.",
        ],
        2,
    ),
]


def offline_quality_file(directory: str | os.PathLike[str]) -> Path:
    """Write a small file in QuALITY's JSON-lines format (Python's language reference as the article)."""
    from langchain_niche.demo.pearl import long_document  # noqa: PLC0415 - offline mode only

    questions = [
        {
            "question": question,
            "options": options,
            "gold_label": gold,
            "difficult": 1,
            "question_unique_id": f"offline-{i}",
            "validation": [{"untimed_eval2_context": r} for r in (3, 4, 2)],
        }
        for i, (question, options, gold) in enumerate(_OFFLINE_QUESTIONS)
    ]
    record = {
        "article_id": "offline",
        "set_unique_id": "offline-1",
        "title": "The Python Language Reference (excerpts)",
        "article": long_document(),
        "questions": questions,
    }
    path = Path(directory) / "quality-offline.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eval_pearl_quality",
        description="PEARL vs zero-shot on QuALITY, side by side (the PEARL paper's evaluation).",
    )
    parser.add_argument(
        "--data", help="a QuALITY htmlstripped JSON-lines file (e.g. the dev split)"
    )
    parser.add_argument("--model", help="OpenAI chat model name (needs langchain-openai)")
    parser.add_argument("--offline", action="store_true", help="scripted model, built-in rows")
    parser.add_argument("--context", choices=["long", "short", "all"], default="long")
    parser.add_argument("--ids", help="file with one question id (or 0-based position) per line")
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--prompt-style", choices=["paper", "grounded"], default="paper")
    parser.add_argument("--plan-with-options", action="store_true")
    parser.add_argument("--actions", help="plain-text action list (NAME(P) # definition per line)")
    parser.add_argument("--demonstrations", help="JSON file written by save_demonstrations")
    parser.add_argument("--max-context-tokens", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=4, help="questions at once")
    parser.add_argument(
        "--prices",
        type=float,
        nargs=2,
        metavar=("INPUT", "OUTPUT"),
        help="price per million prompt / completion tokens, for the cost column",
    )
    return parser


def _chat_model(name: str) -> Any:
    try:
        from langchain_openai import ChatOpenAI  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        msg = 'the evaluation with a real model needs langchain-openai: pip install "langchain-niche[openai]"'
        raise SystemExit(msg) from exc
    settings: dict[str, Any] = {"model": name, "temperature": 0}  # as the paper (temperature 0)
    return ChatOpenAI(**settings)


def _setup(args: argparse.Namespace) -> tuple[ActionSet, list[Any], str]:
    actions = DEFAULT_ACTIONS
    if args.actions:
        actions = ActionSet.load_text(args.actions, duplicates="first")
    if args.demonstrations:
        return actions, load_demonstrations(args.demonstrations), args.demonstrations
    kept = []
    for demo in DEFAULT_DEMONSTRATIONS:
        try:
            parse_plan(demo.plan, actions)
        except PlanParseError:
            continue
        kept.append(demo)
    return actions, kept, f"{len(kept)} of the {len(DEFAULT_DEMONSTRATIONS)} built-in ones"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the table; returns the exit code."""
    args = _parser().parse_args(argv)
    if not args.offline and not (args.data and args.model):
        _parser().error("give --data FILE and --model NAME, or --offline")
    with tempfile.TemporaryDirectory() as tmp:
        data = offline_quality_file(tmp) if args.offline else Path(args.data)
        ids = None
        if args.ids:
            ids = [line.strip() for line in Path(args.ids).read_text().splitlines() if line.strip()]
        rows = load_quality_jsonl(
            data,
            context=None if args.context == "all" else args.context,
            question_ids=ids,
            limit=args.limit,
        )
    if args.offline:
        from langchain_niche.demo.pearl import extractive_model  # noqa: PLC0415 - offline only

        llm: Any = extractive_model(latency=0)
        model_name = "ScriptedChatModel (offline, NOT a language model)"
    else:
        llm = _chat_model(args.model)
        model_name = args.model
    actions, demonstrations, demo_source = _setup(args)
    shared: dict[str, Any] = {"max_context_tokens": args.max_context_tokens}
    pearl = PEARL(
        llm,
        actions=actions,
        demonstrations=demonstrations,
        prompt_style=args.prompt_style,
        plan_with_options=args.plan_with_options,
        **shared,
    )
    baseline = ZeroShotQA(llm, **shared)
    out = sys.stdout
    source = data.name if args.offline else args.data
    out.write(f"data: {source}; context={args.context}; {len(rows)} questions\n")
    out.write(
        f"model: {model_name}; prompts: {args.prompt_style}; planner sees options: "
        f"{args.plan_with_options}; actions: {len(actions)}; demonstrations: {demo_source}\n"
    )
    reports = compare(
        {"PEARL": pearl, "zero-shot": baseline},
        rows,
        max_concurrency=args.concurrency,
        prices=tuple(args.prices) if args.prices else None,
    )
    out.write(format_reports(reports) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

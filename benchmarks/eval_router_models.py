"""Teacher -> student routing with real models, by name (needs an OpenAI key, or any
OpenAI-compatible server through --base-url).

    pip install "langchain-niche[openai]"
    OPENAI_API_KEY=... python benchmarks/eval_router_models.py --teacher gpt-4o --student gpt-4o-mini

The same comparison as bench_router.py, with models instead of the simulation: a
labelling task on an offline labelled corpus (the labels are listed in the
prompt). The teacher answers the held-out inputs once on its own (the all-teacher
run, the reference); then the store is warmed with teacher answers for a pool of
inputs, the router is calibrated on a development stream and serves the held-out
inputs. Printed: accuracy against the gold labels for both runs, agreement of the
router's answers with the all-teacher run, the teacher share, and cost (from the
models' usage metadata and the price table, USD per 1K input/output tokens).
Model calls: n_test + n_warm + n_dev teacher calls (plus student calls) and up to
n_test more for the router.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, table
from labelled_corpora import LabelledCorpus, fortunes, stdlib
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from langchain_niche import JaccardExampleSelector, TeacherStudentRouter, collect_examples
from langchain_niche.routing import exact_match

DEFAULT_PRICES = {  # USD per 1K tokens (input, output), list prices at the time of writing
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4o": (0.0025, 0.01),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1": (0.002, 0.008),
}

INSTRUCTIONS = (
    "Label the text with exactly one of these labels: {labels}. Answer with the label only."
)


def chat_model(name: str, base_url: str | None, api_key: str | None) -> Runnable[Any, Any]:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # the `openai` extra
        msg = 'this command needs langchain-openai: pip install "langchain-niche[openai]"'
        raise SystemExit(msg) from exc
    kwargs: dict[str, Any] = {"model": name, "temperature": 0, "max_retries": 2}
    if base_url:
        kwargs["base_url"] = base_url
    if api_key:
        kwargs["api_key"] = api_key
    return ChatOpenAI(**kwargs)


def parse_prices(values: Sequence[str]) -> dict[str, tuple[float, float]]:
    prices = dict(DEFAULT_PRICES)
    for value in values:
        name, _, numbers = value.partition("=")
        inp, _, out = numbers.partition(",")
        prices[name] = (float(inp), float(out))
    return prices


def load(name: str) -> LabelledCorpus:
    return stdlib() if name == "stdlib" else fortunes()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True, help="teacher model name, e.g. gpt-4o")
    parser.add_argument("--student", required=True, help="student model name, e.g. gpt-4o-mini")
    parser.add_argument("--corpus", choices=["stdlib", "fortunes"], default="stdlib")
    parser.add_argument("--n-warm", type=int, default=300)
    parser.add_argument("--n-dev", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--target", type=float, default=0.95)
    parser.add_argument("--k", type=int, default=5, help="examples in the student's prompt")
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"))
    parser.add_argument("--api-key", default=None, help="default: $OPENAI_API_KEY")
    parser.add_argument(
        "--price", action="append", default=[], metavar="MODEL=IN,OUT",
        help="USD per 1K input,output tokens (adds to or overrides the built-in table)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not (args.api_key or os.environ.get("OPENAI_API_KEY")):
        print("set OPENAI_API_KEY (or pass --api-key) to run this evaluation", file=sys.stderr)
        return 2

    corpus = load(args.corpus)
    labels = sorted(set(corpus.labels))
    gold = dict(zip(corpus.texts, corpus.labels, strict=True))
    texts = list(dict.fromkeys(corpus.texts))
    import random

    random.Random(args.seed).shuffle(texts)
    n_warm, n_dev, n_test = args.n_warm, args.n_dev, args.n_test
    warm, dev = texts[:n_warm], texts[n_warm : n_warm + n_dev]
    test = texts[n_warm + n_dev : n_warm + n_dev + n_test]
    instructions = INSTRUCTIONS.format(labels=", ".join(labels))
    prompt = ChatPromptTemplate.from_messages([("system", instructions), ("human", "{text}")])
    teacher = prompt | chat_model(args.teacher, args.base_url, args.api_key)
    student = chat_model(args.student, args.base_url, args.api_key)
    prices = parse_prices(args.price)
    config: Any = {"max_concurrency": args.max_concurrency}

    print(f"# Teacher -> student routing with real models: {args.teacher} -> {args.student}")
    print(machine())
    print(
        f"corpus {args.corpus}: {len(labels)} labels; warm {len(warm)}, dev {len(dev)}, test {len(test)}"
    )

    # 1. the reference: the teacher alone on the held-out inputs
    selector = JaccardExampleSelector(k=args.k, input_keys=["text"], stopwords="english")
    reference = TeacherStudentRouter(
        teacher=teacher, student=student, selector=JaccardExampleSelector(input_keys=["text"]),
        route=lambda scored: "teacher", learn=False, prices=prices,
    )  # fmt: skip
    reference_answers = reference.batch([{"text": t} for t in test], config)

    # 2. warm the store, calibrate, serve
    collect_examples(
        teacher, [{"text": t} for t in warm], selector, max_concurrency=args.max_concurrency
    )
    router = TeacherStudentRouter(
        teacher=teacher, student=student, selector=selector, prices=prices,
        system_prompt=instructions,
    )  # fmt: skip
    report = router.calibrate([{"text": t} for t in dev], target=args.target)
    print(
        f"calibrated on {report.n} dev inputs: {report.settings} "
        f"(dev student share {report.chosen.student_share:.3f}, agreement {report.chosen.agreement:.3f})"
    )
    router.learn = False
    router.reset_stats()
    answers = router.batch([{"text": t} for t in test], config)

    n = len(test)
    ref_acc = sum(exact_match(a, gold[t]) for a, t in zip(reference_answers, test, strict=True)) / n
    acc = sum(exact_match(a, gold[t]) for a, t in zip(answers, test, strict=True)) / n
    agreement = sum(exact_match(a, b) for a, b in zip(answers, reference_answers, strict=True)) / n
    stats, ref_stats = router.stats, reference.stats
    rows = [
        (
            f"all teacher ({args.teacher})",
            f"{ref_acc:.3f}",
            "1.000",
            "1.000",
            f"${ref_stats.cost:.4f}",
        ),
        (
            f"router ({args.student} + {args.teacher})",
            f"{acc:.3f}",
            f"{agreement:.3f}",
            f"{stats.teacher_share:.3f}",
            f"${stats.cost:.4f}",
        ),
    ]
    print()
    print(
        table(
            ["run", "accuracy (gold)", "agreement with all-teacher", "teacher share", "cost"], rows
        )
    )
    if ref_stats.cost:
        print(f"\ncost vs all-teacher: {stats.cost / ref_stats.cost:.3f}")
    unpriced = set(stats.teacher.unpriced_models + stats.student.unpriced_models)
    if unpriced:
        print(f"no price for {sorted(unpriced)}: pass --price MODEL=IN,OUT (USD per 1K tokens)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Demo section: dynamic few-shot example selection from a real corpus."""

from __future__ import annotations

import random
import statistics
import time

from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate

from langchain_niche.datasets import python_api_examples
from langchain_niche.demo.console import Console, format_seconds
from langchain_niche.selectors import JaccardExampleSelector

__all__ = ["TITLE", "run"]

TITLE = "Few-shot example selection: exact lexical similarity over the stdlib's docstrings"

QUERIES = [
    "Delete a directory and all the files inside it",
    "Return the median of a list of numbers",
    "Parse a string into a date and time",
    "Split a shell command line into arguments",
]


def _time_queries(selector: JaccardExampleSelector, queries: list[str], repeat: int) -> float:
    """Median seconds per selection over ``repeat`` passes."""
    samples = []
    for _ in range(repeat):
        for query in queries:
            start = time.perf_counter()
            selector.select_examples({"description": query})
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _synthetic_corpus(base: list[dict[str, str]], size: int, seed: int = 7) -> list[dict[str, str]]:
    """Recombine real descriptions into ``size`` new 5-30 word texts (for scale only)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sampling, not security
    words = [w for e in base for w in e["description"].split()]
    return [
        {"description": " ".join(rng.choices(words, k=rng.randint(5, 30))), "function": f"x.f{i}"}
        for i in range(size)
    ]


def run(out: Console) -> None:
    """Select few-shot examples for a niche task and show scores, budget, diversity, speed."""
    start = time.perf_counter()
    examples = python_api_examples()
    harvested = time.perf_counter() - start
    out.print(
        f"Corpus: {len(examples):,} real examples harvested from this Python's standard library "
        f"docstrings in {format_seconds(harvested)}."
    )
    out.print('Task: given a description, name the function ({"description", "function"}).')

    start = time.perf_counter()
    plain = JaccardExampleSelector(examples=examples, k=3, input_keys=["description"])
    out.print(f"Index built in {format_seconds(time.perf_counter() - start)}.")

    out.subheading("Plain word overlap lets function words decide")
    median_query = {"description": QUERIES[1]}
    out.print(f"input: {QUERIES[1]!r}")
    for example, score in plain.select_examples_with_scores(median_query):
        out.print(f"   {score:.3f}  {example['function']:<34} {example['description'][:60]}")

    selector = JaccardExampleSelector(
        examples=examples, k=3, input_keys=["description"], stopwords="english", similarity="bm25"
    )
    out.subheading('With stopwords="english", similarity="bm25": rare words count most')
    for query in QUERIES:
        out.print(f"input: {query!r}")
        for example, score in selector.select_examples_with_scores({"description": query}):
            out.print(f"   {score:.3f}  {example['function']:<34} {example['description'][:60]}")

    out.subheading("Into a FewShotPromptTemplate (what the model would receive)")
    prompt = FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=PromptTemplate.from_template(
            "Description: {description}\nFunction: {function}"
        ),
        prefix="Name the Python standard-library function that matches the description.",
        suffix="Description: {description}\nFunction:",
        input_variables=["description"],
    )
    out.print(prompt.format(description=QUERIES[0]))

    out.subheading("Token budget and diversity")
    budget = JaccardExampleSelector(
        examples=examples, k=8, input_keys=["description"], max_tokens=60
    )
    chosen = budget.select_examples({"description": QUERIES[2]})
    used = sum(budget.format_example(example).count(" ") + 1 for example in chosen)
    out.print(f"k=8, max_tokens=60: {len(chosen)} examples fit (~{used} words) for {QUERIES[2]!r}")
    plain = JaccardExampleSelector(examples=examples, k=4, input_keys=["description"])
    diverse = JaccardExampleSelector(
        examples=examples, k=4, input_keys=["description"], diversity=0.5
    )  # same settings, plus maximal marginal relevance
    path_query = {"description": "Return True if the path is a directory"}
    out.print(f"input: {path_query['description']!r}")
    out.table(
        ["diversity=0 (similarity only)", "diversity=0.5 (MMR re-ranking)"],
        [
            (a["function"], b["function"])
            for a, b in zip(
                plain.select_examples(path_query), diverse.select_examples(path_query), strict=False
            )
        ],
    )

    out.subheading("Speed")
    rows = [
        ("real corpus", f"{len(examples):,}", format_seconds(_time_queries(selector, QUERIES, 5)))
    ]
    big = _synthetic_corpus(examples, 100_000)
    start = time.perf_counter()
    big_selector = JaccardExampleSelector(examples=big, k=4, input_keys=["description"])
    build = time.perf_counter() - start
    rows.append(
        (
            "recombined words",
            f"{len(big):,}",
            format_seconds(_time_queries(big_selector, QUERIES, 5)),
        )
    )
    out.table(["corpus", "examples", "median time per selection"], rows)
    out.print(f"(building the 100,000-example index took {format_seconds(build)})")

"""Demo section: dynamic few-shot example selection from a real corpus."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate

from langchain_niche.datasets import python_api_examples
from langchain_niche.demo.console import Console, format_seconds, shorten
from langchain_niche.demo.corpora import LARGE_SIZE, describe, large_corpus
from langchain_niche.selectors import JaccardExampleSelector
from langchain_niche.tokens import approximate_token_count

__all__ = ["TITLE", "run"]

TITLE = "Few-shot example selection: exact lexical similarity over the stdlib's docstrings"

QUERIES = [
    "Delete a directory and all the files inside it",
    "Return the median of a list of numbers",
    "Parse a string into a date and time",
    "Split a shell command line into arguments",
]
_REPEAT = 5
_DESCRIPTION_WIDTH = 60


def _time_queries(selector: JaccardExampleSelector, queries: list[str], repeat: int) -> float:
    """Median seconds per selection over ``repeat`` passes."""
    samples = []
    for _ in range(repeat):
        for query in queries:
            start = time.perf_counter()
            selector.select_examples({"description": query})
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _selections(
    out: Console, score_label: str, scored: Sequence[tuple[Mapping[str, Any], float]]
) -> None:
    """The selected examples as a labelled table: score, function, description (cut with …)."""
    out.table(
        [score_label, "function", "description"],
        [
            (f"{score:.3f}", e["function"], shorten(e["description"], _DESCRIPTION_WIDTH))
            for e, score in scored
        ],
        right=(0,),
        indent="   ",
    )


def run(out: Console, size: int = LARGE_SIZE) -> None:
    """Select few-shot examples for a niche task and show scores, budget, diversity, speed.

    Args:
        out: Where to print.
        size: Examples in the large corpus of the speed table.
    """
    start = time.perf_counter()
    examples = python_api_examples()
    harvested = time.perf_counter() - start
    out.wrap(
        f"Corpus: {len(examples):,} real examples harvested from this Python's standard library "
        f"docstrings in {format_seconds(harvested)}: the first sentence of each documented "
        "function, class and method, with its name."
    )
    out.print("Task: given a description, name the function.")

    start = time.perf_counter()
    plain = JaccardExampleSelector(examples=examples, k=3, input_keys=["description"])
    out.print(f"Index built in {format_seconds(time.perf_counter() - start)}.")

    out.subheading("Plain word overlap lets function words decide")
    out.print("Score: exact Jaccard similarity of the word sets, in [0, 1].")
    out.print(f"input: {QUERIES[1]!r}")
    _selections(out, "Jaccard", plain.select_examples_with_scores({"description": QUERIES[1]}))

    selector = JaccardExampleSelector(
        examples=examples, k=3, input_keys=["description"], stopwords="english", similarity="bm25"
    )
    out.subheading('With stopwords="english", similarity="bm25": rare words count most')
    out.wrap(
        "Score: BM25 over the word sets without stop words, relative to an ideal example's "
        "score (0 to 1)."
    )
    for query in QUERIES:
        out.print(f"input: {query!r}")
        _selections(out, "BM25", selector.select_examples_with_scores({"description": query}))

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
    used = sum(approximate_token_count(budget.format_example(example)) for example in chosen)
    out.print(f"input: {QUERIES[2]!r}")
    out.wrap(
        f"k=8, max_tokens=60: {len(chosen)} examples fit, {used} tokens in all (counted by "
        "approximate_token_count, the selector's default token counter)."
    )
    plain = JaccardExampleSelector(examples=examples, k=4, input_keys=["description"])
    diverse = JaccardExampleSelector(
        examples=examples, k=4, input_keys=["description"], diversity=0.5
    )  # same settings, plus maximal marginal relevance
    path_query = {"description": "Return True if the path is a directory"}
    out.print(f"input: {path_query['description']!r}")
    out.table(
        ["rank", "diversity=0 (similarity only)", "diversity=0.5 (MMR re-ranking)"],
        [
            (rank, a["function"], b["function"])
            for rank, (a, b) in enumerate(
                zip(
                    plain.select_examples(path_query),
                    diverse.select_examples(path_query),
                    strict=False,
                ),
                start=1,
            )
        ],
        right=(0,),
        indent="   ",
    )

    out.subheading("Speed")
    rows = [
        (
            "stdlib docstrings",
            f"{len(examples):,}",
            "stop words + BM25",
            format_seconds(_time_queries(selector, QUERIES, _REPEAT)),
        )
    ]
    big = large_corpus(size)
    start = time.perf_counter()
    big_selector = JaccardExampleSelector(examples=big, k=3, input_keys=["description"])
    build = time.perf_counter() - start
    rows.append(
        (
            "docstrings + recombined texts",
            f"{len(big):,}",
            "plain Jaccard",
            format_seconds(_time_queries(big_selector, QUERIES, _REPEAT)),
        )
    )
    out.table(
        ["corpus", "examples", "JaccardExampleSelector, k=3", "median time per selection"],
        rows,
        right=(1, 3),
    )
    out.wrap(
        f"Medians over the {len(QUERIES)} inputs above x {_REPEAT} passes. The large corpus: "
        f"{describe(len(big))}; the MinHash section uses the same one. Building its index took "
        f"{format_seconds(build)}."
    )

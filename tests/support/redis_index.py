"""MinHash indexes in Redis for the integration tests: the queries they run and a selector factory."""

from __future__ import annotations

from typing import Any

from langchain_niche import MinHashExampleSelector

QUERIES = [
    "Delete a directory and all the files inside it",
    "Return the median of a list of numbers",
    "Parse a string into a date and time",
    "return list",
    "zzz no such words",
]
"""Queries over ``python_api_examples()``: near matches, a short common one, one matching nothing."""


def redis_selector(url: str, name: str, **kwargs: Any) -> MinHashExampleSelector:
    """A selector over the Redis index ``name`` at ``url``, comparing ``description`` by default."""
    kwargs.setdefault("input_keys", ["description"])
    return MinHashExampleSelector(redis_url=url, index_name=name, **kwargs)

"""Near-duplicate removal for example sets and collected teacher outputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    preview,
)
from langchain_niche.minhash.banding import Banding
from langchain_niche.minhash.encoding import EncodedBatch, LshEncoder
from langchain_niche.minhash.index import TokenRows
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.scope import check_filter_keys, example_filter_code
from langchain_niche.selectors.base import copy_examples
from langchain_niche.stopwords import StopwordsSpec
from langchain_niche.text import AnalyzerKind, TextAnalyzer, TokenBatch, TokenizerFn

__all__ = ["dedupe_examples"]

ProgressFn = Callable[[int, int], None]
"""Called with ``(examples done, total)`` while deduplicating."""

_DEFAULT_MARGIN = 0.3
_PROGRESS_EVERY = 10_000


def _check_threshold(name: str, value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value <= 1.0
    if not ok:
        msg = f"{name} must be a number in (0, 1], got {preview(value)}"
        raise InvalidParameterError(msg, name=name, value=value)
    return float(value)


def dedupe_examples(
    examples: Iterable[Mapping[str, Any]],
    threshold: float = 0.9,
    *,
    input_keys: Sequence[str] | None = None,
    filter_keys: Sequence[str] | None = None,
    tokenizer: TokenizerFn | None = None,
    ngram_range: tuple[int, int] = (1, 1),
    analyzer: AnalyzerKind = "word",
    stopwords: StopwordsSpec = None,
    num_perm: int = 128,
    seed: int = 1,
    lsh_threshold: float | None = None,
    on_progress: ProgressFn | None = None,
) -> list[dict[str, Any]]:
    """Remove near-duplicate examples, keeping the first of each group.

    Examples are taken in order; an example is dropped when its exact Jaccard
    similarity with an example already *kept* is at least ``threshold`` (so
    every dropped example has a kept near-duplicate, and two kept examples are
    never that similar when LSH found them). Exact duplicates (same token set)
    are always dropped. Candidate pairs come from MinHash-LSH banding tuned for
    ``lsh_threshold`` (default ``threshold - 0.3``, which finds pairs at
    ``threshold`` with probability above 0.9999 for ``threshold >= 0.8`` and 128
    permutations) and are verified exactly, so nothing is dropped on an
    estimate alone.

    Args:
        examples: Dicts of field name to text.
        threshold: Jaccard similarity in (0, 1] from which two examples are
            near-duplicates.
        input_keys: The fields compared (default: every field of each example
            except ``filter_keys``).
        filter_keys: Fields that scope the examples (issue 14): two examples are
            near-duplicates only when their values of these fields are equal
            (typed: ``1`` and ``"1"`` differ), so examples of different scopes
            (tenants, tasks, languages) are never merged. These fields are not
            compared for similarity.
        tokenizer: As for the selectors (default: lower-cased Unicode words).
        ngram_range: Word (or character) n-grams compared; ``(1, 2)`` adds bigrams.
        analyzer: ``"word"`` or ``"char"``.
        stopwords: Words to ignore (``"english"`` or a collection), as for the selectors.
        num_perm: MinHash permutations.
        seed: MinHash seed.
        lsh_threshold: The similarity the banding targets (lower finds more
            candidates and costs more verification).
        on_progress: Called with ``(done, total)`` now and then.

    Returns:
        Copies of the kept examples, in their original order.

    Raises:
        InvalidParameterError: A parameter is out of range.
        InvalidExampleError: An example is not a dict of text fields.
        MissingKeyError: An example lacks one of ``input_keys`` or ``filter_keys``.

    Example:
        ```python
        dedupe_examples(
            [
                {"q": "How do I reset my password?"},
                {"q": "how do I reset my password"},
                {"q": "Where is my invoice?"},
            ],
            threshold=0.8,
        )
        # [{'q': 'How do I reset my password?'}, {'q': 'Where is my invoice?'}]
        ```
    """
    threshold = _check_threshold("threshold", threshold)
    if lsh_threshold is None:
        lsh_threshold = max(0.05, threshold - _DEFAULT_MARGIN)
    lsh_threshold = _check_threshold("lsh_threshold", lsh_threshold)
    if input_keys is not None and (
        isinstance(input_keys, str)
        or not input_keys
        or not all(isinstance(k, str) for k in input_keys)
    ):
        msg = (
            f"input_keys must be None or a non-empty list of field names, got {preview(input_keys)}"
        )
        raise InvalidParameterError(msg, name="input_keys", value=input_keys)
    scope_fields = check_filter_keys(filter_keys, input_keys)
    batch = copy_examples(examples)
    total = len(batch)
    if total == 0:
        return []
    groups = _scope_groups(batch, scope_fields) if scope_fields else None
    text = TextAnalyzer(
        tokenizer=tokenizer, ngram_range=ngram_range, analyzer=analyzer, stopwords=stopwords
    )
    encoder = LshEncoder(
        text, MinHasher(num_perm, seed), Banding.for_threshold(lsh_threshold, num_perm)
    )
    if input_keys is not None:
        keys_of: Callable[[Mapping[str, Any]], list[str]] = lambda _: sorted(input_keys)  # noqa: E731
    else:
        keys_of = lambda example: sorted(k for k in example if k not in scope_fields)  # noqa: E731
    encoded = encoder.encode_tokens(
        TokenBatch.from_sets(
            text.example_shingles(example, keys_of(example), index=i)
            for i, example in enumerate(batch)
        )
    )
    rows = TokenRows()
    rows.append(encoded.tokens, encoded.lens)
    keep = _greedy_leaders(rows, encoded, threshold, on_progress, groups)
    if on_progress is not None:
        on_progress(total, total)
    return [batch[i] for i in np.flatnonzero(keep).tolist()]


def _scope_groups(
    batch: Sequence[Mapping[str, Any]], fields: Sequence[str]
) -> npt.NDArray[np.int64]:
    """One group number per example: equal numbers for equal filter-key values."""
    numbers: dict[tuple[str, ...], int] = {}
    out = np.empty(len(batch), dtype=np.int64)
    for i, example in enumerate(batch):
        codes = []
        for name in fields:
            if name not in example:
                msg = f"example {i} has no filter field {name!r} (filter_keys={list(fields)})"
                raise MissingKeyError(msg, key=name)
            code = example_filter_code(example[name])
            if code is None:
                msg = (
                    f"example {i}: filter field {name!r} must be a str, int, bool or None, "
                    f"got {preview(example[name])}"
                )
                raise InvalidExampleError(msg, index=i, key=name)
            codes.append(code)
        out[i] = numbers.setdefault(tuple(codes), len(numbers))
    return out


def _greedy_leaders(
    rows: TokenRows,
    encoded: EncodedBatch,
    threshold: float,
    on_progress: ProgressFn | None,
    groups: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.bool_]:
    """Keep-flags: an example is kept unless a kept earlier one (same group) is similar enough."""
    tokens, lens, keys = encoded.tokens, encoded.lens, encoded.keys
    n, bands = keys.shape
    if groups is not None:  # band keys of different scopes never meet (collisions re-checked)
        salt = (groups.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        keys = keys.astype(np.uint64) ^ salt[:, None]
    keep = np.ones(n, dtype=np.bool_)
    offsets = np.concatenate([[0], np.cumsum(lens)])
    # Exact duplicates: identical non-empty token sets (two empty sets score 0).
    first_of: dict[bytes, int] = {}
    for i in np.flatnonzero(lens > 0).tolist():
        signature = np.sort(tokens[offsets[i] : offsets[i + 1]]).tobytes()
        if groups is not None:
            signature += int(groups[i]).to_bytes(8, "little")
        if first_of.setdefault(signature, i) != i:
            keep[i] = False
    # Only examples sharing a band key with another example can have a near-duplicate.
    _, inverse, counts = np.unique(keys.reshape(-1), return_inverse=True, return_counts=True)
    shared = (counts[inverse] > 1).reshape(n, bands)
    busy = np.flatnonzero(shared.any(axis=1) & keep)
    buckets: dict[int, list[int]] = {}
    for done, i in enumerate(busy.tolist()):
        if on_progress is not None and done % _PROGRESS_EVERY == 0:
            on_progress(int(np.searchsorted(busy, i)), n)
        row_keys = keys[i][shared[i]].tolist()
        candidates = {c for key in row_keys for c in buckets.get(key, ())}
        if groups is not None:
            candidates = {c for c in candidates if groups[c] == groups[i]}
        if candidates:
            found = np.fromiter(sorted(candidates), dtype=np.int64, count=len(candidates))
            query = tokens[offsets[i] : offsets[i + 1]]
            if bool((rows.jaccard(found, query) >= threshold).any()):
                keep[i] = False
                continue
        for key in row_keys:
            buckets.setdefault(key, []).append(i)
    return keep

"""Interop with datasketch: its ``MinHash``/``LeanMinHash`` signatures in and out.

``MinHashExampleSelector`` computes exactly the signatures of
``datasketch.MinHash(num_perm, seed)`` (scheme ``"affine32"``, hash
``sha1_hash32``) updated with the UTF-8 bytes of the selector's tokens. So:

* :func:`from_datasketch` / :func:`add_datasketch_examples` build or extend a
  selector from examples *and* the datasketch signatures you already keep for
  them: the selector takes ``num_perm`` and ``seed`` from the signatures, and
  every signature is checked against the one the selector computes from the
  example's fields, so the index and your datasketch data (a ``MinHashLSH``,
  stored ``LeanMinHash`` bytes) agree value for value;
* :func:`to_lean_minhash` / :func:`to_lean_minhashes` export the selector's
  signatures as ``datasketch.LeanMinHash`` objects (for ``MinHashLSH``,
  ``LeanMinHash.serialize``, ``jaccard`` ...).

A signature made with another ``num_perm`` or ``seed`` than the selector's is an
:class:`~langchain_niche.errors.InvalidParameterError` naming both; one made
with another scheme or hash function cannot be compared and is rejected too.

Needs ``pip install "langchain-niche[datasketch]"``; datasketch is imported
only when these functions run.

Example:
    ```python
    from datasketch import MinHash
    from langchain_niche import from_datasketch, to_lean_minhash

    examples = [{"q": "reset my password"}, {"q": "where is my invoice"}]
    minhashes = []
    for example in examples:
        m = MinHash(num_perm=64, seed=7)
        m.update_batch([w.encode("utf-8") for w in example["q"].split()])
        minhashes.append(m)
    selector = from_datasketch(examples, minhashes, input_keys=["q"], tokenizer=str.split)
    selector.num_perm, selector.seed  # (64, 7), taken from the signatures
    to_lean_minhash(selector, {"q": "reset my password"}).jaccard(minhashes[0])  # 1.0
    ```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.errors import (
    InvalidExampleError,
    InvalidParameterError,
    MissingDependencyError,
    preview,
)
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.selectors.minhash import MinHashExampleSelector
from langchain_niche.text import TextAnalyzer, TokenBatch

__all__ = [
    "add_datasketch_examples",
    "from_datasketch",
    "to_lean_minhash",
    "to_lean_minhashes",
]

_SCHEME = "affine32"


def _datasketch() -> Any:
    try:
        import datasketch  # noqa: PLC0415 - optional dependency
        import datasketch.hashfunc  # noqa: PLC0415
    except ImportError as exc:
        msg = 'datasketch interop needs the datasketch package: pip install "langchain-niche[datasketch]"'
        raise MissingDependencyError(msg) from exc
    return datasketch


def _hashvalues(minhash: Any, index: int, num_perm: int, seed: int) -> npt.NDArray[np.uint32]:
    """The values of a datasketch MinHash/LeanMinHash, checked against ``num_perm``/``seed``."""
    ds = _datasketch()
    where = f"minhashes[{index}]"
    if not isinstance(minhash, ds.MinHash):  # LeanMinHash is a MinHash subclass
        msg = f"{where} must be a datasketch MinHash or LeanMinHash, got {type(minhash).__name__} {preview(minhash)}"
        raise InvalidParameterError(msg, name="minhashes", value=minhash)
    scheme = getattr(minhash, "scheme", None)
    if scheme != _SCHEME:
        msg = f"{where} uses datasketch's {scheme!r} scheme; the selector's signatures are {_SCHEME!r} (datasketch 2.x default)"
        raise InvalidParameterError(msg, name="minhashes", value=scheme)
    hashfunc = getattr(minhash, "hashfunc", ds.hashfunc.sha1_hash32)  # LeanMinHash has none
    if hashfunc is not ds.hashfunc.sha1_hash32:
        name = getattr(hashfunc, "__name__", repr(hashfunc))
        msg = f"{where} hashes tokens with {name}; the selector's signatures use datasketch.hashfunc.sha1_hash32"
        raise InvalidParameterError(msg, name="minhashes", value=name)
    if len(minhash) != num_perm:
        msg = f"{where} has num_perm={len(minhash)} but the selector has num_perm={num_perm}"
        raise InvalidParameterError(msg, name="num_perm", value=len(minhash))
    if minhash.seed != seed:
        msg = f"{where} has seed={minhash.seed} but the selector has seed={seed}"
        raise InvalidParameterError(msg, name="seed", value=minhash.seed)
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def _compared_keys(selector: MinHashExampleSelector) -> list[str]:
    if not selector.input_keys:
        msg = (
            "datasketch interop needs a selector with input_keys (a signature covers fixed fields)"
        )
        raise InvalidParameterError(msg, name="input_keys", value=selector.input_keys)
    return sorted(selector.input_keys)


def _signatures(
    selector: MinHashExampleSelector, examples: Sequence[Mapping[str, Any]]
) -> npt.NDArray[np.uint32]:
    """The selector's signatures of the examples' compared fields (as the index computes them)."""
    analyzer = TextAnalyzer(
        tokenizer=selector.tokenizer,
        ngram_range=selector.ngram_range,
        analyzer=selector.analyzer,
        stopwords=selector.stopwords,
    )
    keys = _compared_keys(selector)
    batch = TokenBatch.from_sets(
        analyzer.example_shingles(example, keys, index=i) for i, example in enumerate(examples)
    )
    return MinHasher(selector.num_perm, selector.seed).signatures(batch)


def add_datasketch_examples(
    selector: MinHashExampleSelector,
    examples: Iterable[Mapping[str, Any]],
    minhashes: Iterable[Any],
    *,
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Add examples whose datasketch signatures you already have, checking they agree.

    Args:
        selector: A selector with ``input_keys``.
        examples: The examples.
        minhashes: One ``datasketch.MinHash`` or ``LeanMinHash`` per example, made
            with the selector's ``num_perm`` and ``seed`` from the example's
            compared fields, tokenized as the selector tokenizes them.
        ids: Optional ids, as for ``add_examples``.

    Returns:
        The ids of the added examples.

    Raises:
        InvalidParameterError: A signature has another ``num_perm``, ``seed``,
            scheme or hash function than the selector (the message names both),
            or the counts of examples and signatures differ.
        InvalidExampleError: A signature differs from the one the selector
            computes for its example (other tokens were hashed); nothing is added.
        MissingDependencyError: datasketch is not installed.
    """
    batch = [dict(example) if isinstance(example, Mapping) else example for example in examples]
    given = list(minhashes)
    if len(given) != len(batch):
        msg = (
            f"got {len(batch)} examples but {len(given)} minhashes; give one signature per example"
        )
        raise InvalidParameterError(msg, name="minhashes", value=len(given))
    values = [_hashvalues(m, i, selector.num_perm, selector.seed) for i, m in enumerate(given)]
    if not batch:
        return []
    ours = _signatures(selector, batch)
    for i, theirs in enumerate(values):
        if not np.array_equal(ours[i], theirs):
            differ = int(np.count_nonzero(ours[i] != theirs))
            msg = (
                f"example {i}: its MinHash differs from the selector's signature of its fields "
                f"{_compared_keys(selector)} in {differ} of {selector.num_perm} values; it was "
                "made from other tokens (pass the tokenizer, ngram_range and stopwords you "
                "hashed with, and update it with each distinct token's UTF-8 bytes)"
            )
            raise InvalidExampleError(msg, index=i)
    return selector.add_examples(batch, ids=ids)


def from_datasketch(
    examples: Iterable[Mapping[str, Any]],
    minhashes: Iterable[Any],
    *,
    ids: Sequence[str] | None = None,
    **kwargs: Any,
) -> MinHashExampleSelector:
    """Build a selector from examples and their existing datasketch signatures.

    ``num_perm`` and ``seed`` default to the signatures' own; given explicitly,
    they must match them.

    Args:
        examples: The examples.
        minhashes: One ``datasketch.MinHash`` or ``LeanMinHash`` per example.
        ids: Optional example ids.
        **kwargs: Settings of the selector (``input_keys`` is required;
            ``tokenizer``, ``ngram_range``, ``stopwords`` as you hashed).

    Returns:
        The selector, holding the examples.

    Raises:
        InvalidParameterError: See :func:`add_datasketch_examples`.
        InvalidExampleError: See :func:`add_datasketch_examples`.
        MissingDependencyError: datasketch is not installed.
    """
    given = list(minhashes)
    if given and isinstance(given[0], _datasketch().MinHash):  # others are rejected below
        kwargs = {"num_perm": len(given[0]), "seed": given[0].seed, **kwargs}
    selector = MinHashExampleSelector(**kwargs)
    _compared_keys(selector)
    add_datasketch_examples(selector, examples, given, ids=ids)
    return selector


def to_lean_minhash(selector: MinHashExampleSelector, example: Mapping[str, Any]) -> Any:
    """The selector's signature of an example (or input) as a ``datasketch.LeanMinHash``.

    Args:
        selector: A selector with ``input_keys``.
        example: A mapping with the compared fields.

    Returns:
        ``datasketch.LeanMinHash`` equal to ``datasketch.MinHash(num_perm, seed)``
        updated with the UTF-8 bytes of the example's tokens.

    Raises:
        MissingKeyError: The example lacks a compared field.
        MissingDependencyError: datasketch is not installed.
    """
    ds = _datasketch()
    signature = _signatures(selector, [example])[0]
    return ds.LeanMinHash(seed=selector.seed, hashvalues=signature, scheme=_SCHEME)


def to_lean_minhashes(selector: MinHashExampleSelector) -> dict[str, Any]:
    """Every stored example's signature as a ``datasketch.LeanMinHash``, by example id.

    Args:
        selector: A selector with ``input_keys`` (in memory or Redis).

    Returns:
        ``{id: LeanMinHash}`` in insertion order, ready for ``MinHashLSH.insert``.

    Raises:
        MissingDependencyError: datasketch is not installed.
    """
    ds = _datasketch()
    examples, ids = selector.examples, selector.ids
    if not examples:
        return {}
    signatures = _signatures(selector, examples)
    return {
        example_id: ds.LeanMinHash(seed=selector.seed, hashvalues=row, scheme=_SCHEME)
        for example_id, row in zip(ids, signatures, strict=True)
    }

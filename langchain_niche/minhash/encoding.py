"""Examples and inputs to what a MinHash-LSH index stores and looks up.

An :class:`LshEncoder` ties together the text pipeline (:class:`TextAnalyzer`),
the signatures (:class:`MinHasher`), the banding (:class:`Banding`) and,
optionally, the candidate pre-filter's sketches (:class:`Prefilter`): it turns a
batch of examples into their token ids, band keys and sketches
(:class:`EncodedBatch`), and an input into a :class:`LshQuery`. Every storage
(in memory, Redis) and the deduplicator use it, so they all agree on ids and keys.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.minhash.banding import Banding
from langchain_niche.minhash.index import TokenSet
from langchain_niche.minhash.prefilter import Prefilter
from langchain_niche.minhash.sketches import MinHasher
from langchain_niche.scope import Scope, example_filter_code, scope_key
from langchain_niche.text import TextAnalyzer, TokenBatch, stable_token_hashes

__all__ = [
    "EncodedBatch",
    "LshEncoder",
    "LshQuery",
    "partition_salt",
    "partition_salts",
    "salted",
    "scope_salts",
]

U64Array = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]
U8Array = npt.NDArray[np.uint8]

_TOKEN_CACHE = 1 << 16  # token ids remembered for queries (common words recur)


@dataclass(frozen=True)
class EncodedBatch:
    """Token ids and band keys of a batch of examples."""

    tokens: U64Array
    """Distinct token ids of every example, example after example."""
    lens: IntArray
    """Number of token ids of every example."""
    keys: U64Array
    """``(n, bands)`` band keys."""
    sketches: U8Array | None = None
    """``(n, width)`` pre-filter sketches (``None`` without a pre-filter)."""
    salts: U64Array | None = None
    """The partition salt of every example, already XORed into :attr:`keys`
    (``None``: unsalted, an index without ``filter_keys``)."""

    def __len__(self) -> int:
        return int(self.lens.shape[0])

    def slice(self, start: int, stop: int) -> EncodedBatch:
        """The examples ``start .. stop - 1`` of the batch.

        Args:
            start: First example.
            stop: One past the last example.

        Returns:
            A batch view.
        """
        offsets = np.concatenate([[0], np.cumsum(self.lens)])
        return EncodedBatch(
            self.tokens[int(offsets[start]) : int(offsets[stop])],
            self.lens[start:stop],
            self.keys[start:stop],
            None if self.sketches is None else self.sketches[start:stop],
            None if self.salts is None else self.salts[start:stop],
        )


# -- scopes (issue 14): band keys salted by partition ------------------------------------
# An index with ``filter_keys`` XORs each example's band keys with the salt of its
# partition (its filter-key values), on the prefix-hash bits only: equality of a whole
# key and of a band prefix both survive, so a query salted with a partition's salt
# finds, by banding and by the probe's prefix ranges, that partition's rows (plus rare
# collisions from other partitions, which the scope check drops). Both backends use
# these functions: the in-memory one and Redis lay out their keys alike.
_UNSCOPED = hashlib.blake2b(b"\x00unscoped", digest_size=8).hexdigest()
"""The partition of an example lacking a filter field (it never matches a scope)."""
_MISSING = object()


def partition_salt(banding: Banding, key: str) -> np.uint64:
    """The salt of one partition (a :func:`~langchain_niche.scope.scope_key`).

    Args:
        banding: The index's banding (the salt covers its prefix-hash bits).
        key: The partition's 16-hex scope key.

    Returns:
        The salt to XOR into the partition's band keys.
    """
    salt: np.uint64 = np.uint64(int(key, 16) & _salt_mask(banding.prefix_bits, banding.full_bits))
    return salt


def _salt_mask(prefix_bits: int, full_bits: int) -> int:
    """The prefix-hash bits of a band key: where a partition's salt goes."""
    return ((1 << prefix_bits) - 1) << full_bits


def partition_salts(
    banding: Banding, filter_keys: Sequence[str], examples: Sequence[Mapping[str, Any]]
) -> U64Array:
    """The band-key salt of each example: its partition's (0 without ``filter_keys``).

    Args:
        banding: The index's banding.
        filter_keys: The fields the index partitions by.
        examples: The examples.

    Returns:
        One salt per example.
    """
    salts = np.zeros(len(examples), dtype=np.uint64)
    if not filter_keys:
        return salts
    cache: dict[tuple[Any, ...], np.uint64] = {}  # by the values (and their types)
    for i, example in enumerate(examples):
        raw = tuple(
            (type(value), value) for value in (example.get(name, _MISSING) for name in filter_keys)
        )
        try:
            salt = cache.get(raw)
        except TypeError:  # an unhashable value (a list ...): never matches a scope
            salt = None
            raw = ()
        if salt is None:
            salt = partition_salt(banding, _partition_key(example, filter_keys))
            if raw:
                cache[raw] = salt
        salts[i] = salt
    return salts


def _partition_key(example: Mapping[str, Any], filter_keys: Sequence[str]) -> str:
    """The scope key of an example's partition (one of its own when it can match no scope)."""
    if any(
        name not in example or example_filter_code(example[name]) is None for name in filter_keys
    ):
        return _UNSCOPED
    return scope_key({name: example[name] for name in filter_keys})


def scope_salts(banding: Banding, filter_keys: Sequence[str], scope: Scope) -> U64Array | None:
    """The salts of the partitions a scope reaches (in the order of their scope keys).

    Args:
        banding: The index's banding.
        filter_keys: The fields the index partitions by (none: one unsalted partition).
        scope: The selection's scope.

    Returns:
        The salts (empty when the scope matches nothing), or ``None`` when the
        scope leaves a filter key unrestricted (every partition may match).
    """
    if not filter_keys:
        return np.zeros(1, dtype=np.uint64)
    return _scope_salts(banding.prefix_bits, banding.full_bits, tuple(filter_keys), scope)


@functools.lru_cache(maxsize=1024)
def _scope_salts(
    prefix_bits: int, full_bits: int, filter_keys: tuple[str, ...], scope: Scope
) -> U64Array | None:
    """:func:`scope_salts`, remembered: a selection's scope recurs (a tenant's queries)."""
    parts = scope.partition_keys(filter_keys)
    if parts is None:
        return None
    mask = _salt_mask(prefix_bits, full_bits)
    salts = np.array([int(part, 16) & mask for part in parts], dtype=np.uint64)
    salts.flags.writeable = False  # shared by every call with this scope
    return salts


def salted(keys: U64Array, salts: U64Array) -> U64Array:
    """A query's band keys salted with each of ``salts``, one block of keys per salt."""
    out: U64Array = (salts[:, None] ^ keys[None, :]).reshape(-1)
    return out


@dataclass(frozen=True)
class LshQuery:
    """What a selection looks up: the input's token ids, signature and band keys."""

    tokens: U64Array
    """The input's distinct token ids, sorted."""
    signature: npt.NDArray[np.uint32]
    """The input's MinHash signature."""
    keys: U64Array
    """One band key per band."""
    sketch: U8Array | None = None
    """The input's pre-filter sketch (``None`` without a pre-filter)."""
    members: TokenSet | None = None
    """:attr:`tokens` as a fast membership test (built once per selection)."""

    def token_set(self) -> TokenSet:
        """:attr:`members`, or a new :class:`TokenSet` of :attr:`tokens`."""
        return self.members if self.members is not None else TokenSet(self.tokens)


@dataclass(frozen=True)
class LshEncoder:
    """Encodes examples and inputs for a MinHash-LSH index.

    Attributes:
        analyzer: Text to shingles.
        hasher: Token ids to signatures.
        banding: Signatures to band keys.
        prefilter: Signatures to pre-filter sketches (``None``: no sketches).
    """

    analyzer: TextAnalyzer
    hasher: MinHasher
    banding: Banding
    prefilter: Prefilter | None = None
    _token_ids: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def cached_tokens(self) -> int:
        """Token ids held by the cache of recent tokens (bounded)."""
        return len(self._token_ids)

    def encode_examples(self, batch: Sequence[Any], keys: Sequence[str]) -> EncodedBatch:
        """Validate examples and compute their token ids and band keys.

        Args:
            batch: Example mappings (errors name their position in the batch).
            keys: The compared fields.

        Returns:
            The encoded batch.
        """
        return self.encode_tokens(self.analyzer.encode_examples(batch, keys))

    def encode_tokens(self, tokens: TokenBatch) -> EncodedBatch:
        """Band keys for already tokenized sets.

        Args:
            tokens: The token sets.

        Returns:
            The encoded batch.
        """
        signatures = self.hasher.signatures(tokens)
        sketches = None if self.prefilter is None else self.prefilter.sketch(signatures)
        return EncodedBatch(tokens.flat, tokens.lens, self.banding.keys(signatures), sketches)

    def keys_of_rows(self, tokens: U64Array, lens: IntArray) -> U64Array:
        """Band keys of stored rows given their token ids.

        Args:
            tokens: Token ids, row after row.
            lens: Size of each row.

        Returns:
            ``(n, bands)`` keys.
        """
        return self.banding.keys(self.hasher.signatures_of_rows(tokens, lens))

    def sketches_of_rows(self, tokens: U64Array, lens: IntArray) -> U8Array:
        """The ``(n, width)`` pre-filter sketches of the rows :meth:`keys_of_rows` takes.

        Raises:
            ValueError: The encoder has no pre-filter.
        """
        if self.prefilter is None:
            msg = "this encoder has no pre-filter"
            raise ValueError(msg)
        return self.prefilter.sketch(self.hasher.signatures_of_rows(tokens, lens))

    def query(self, shingles: set[str]) -> LshQuery:
        """Encode a selection input.

        Args:
            shingles: The input's shingles.

        Returns:
            The query.
        """
        entries = self._token_entries(shingles)
        tokens = np.array([entry[0] for entry in entries], dtype=np.uint64)
        if not entries:
            signature = self.hasher.signature_of(tokens)
        else:
            mixed = np.array([entry[1] for entry in entries], dtype=np.uint32)
            signature = self.hasher.signature_of_mixed(mixed)
        keys = self.banding.keys_of(signature)
        sketch = None if self.prefilter is None else self.prefilter.sketch_of(signature)
        return LshQuery(tokens, signature, keys, sketch, TokenSet(tokens))

    def _token_entries(self, shingles: set[str]) -> list[tuple[int, int]]:
        """Distinct ``(token id, pre-mixed hash)`` of shingles, sorted by id (cached)."""
        cache = self._token_ids
        found = [cache.get(shingle) for shingle in shingles]
        if None in found:
            new = [shingle for shingle, entry in zip(shingles, found, strict=True) if entry is None]
            ids = stable_token_hashes(new)
            entries = zip(ids.tolist(), self.hasher.mix(ids).tolist(), strict=True)
            fresh = dict(zip(new, entries, strict=True))
            if len(cache) + len(fresh) > _TOKEN_CACHE:
                cache.clear()
            cache.update(fresh)
            found = [
                fresh[shingle] if entry is None else entry
                for shingle, entry in zip(shingles, found, strict=True)
            ]
        return sorted(set(found))  # type: ignore[arg-type]  # distinct ids: one entry each

    def describe(self) -> dict[str, Any]:
        """JSON-able description of everything that determines ids and keys.

        Returns:
            Analyzer settings, ``num_perm``, ``seed`` and the banding.
        """
        return {
            **self.analyzer.describe(),
            "seed": self.hasher.seed,
            "hash": "sha1_hash32/affine32",
            **self.banding.describe(),
        }

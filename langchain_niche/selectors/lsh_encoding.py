"""Examples and inputs to what a MinHash-LSH index stores and looks up.

An :class:`LshEncoder` ties together the text pipeline (:class:`TextAnalyzer`),
the signatures (:class:`MinHasher`) and the banding (:class:`Banding`): it
turns a batch of examples into their token ids and band keys
(:class:`EncodedBatch`), and an input into a :class:`LshQuery`. Every storage
(in memory, Redis) and the deduplicator use it, so they all agree on ids and keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche.banding import Banding
from langchain_niche.sketches import MinHasher
from langchain_niche.text import TextAnalyzer, TokenBatch, stable_token_hashes

__all__ = ["EncodedBatch", "LshEncoder", "LshQuery"]

U64Array = npt.NDArray[np.uint64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EncodedBatch:
    """Token ids and band keys of a batch of examples."""

    tokens: U64Array
    """Distinct token ids of every example, example after example."""
    lens: IntArray
    """Number of token ids of every example."""
    keys: U64Array
    """``(n, bands)`` band keys."""

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
        )


@dataclass(frozen=True)
class LshQuery:
    """What a selection looks up: the input's token ids, signature and band keys."""

    tokens: U64Array
    """The input's distinct token ids, sorted."""
    signature: npt.NDArray[np.uint32]
    """The input's MinHash signature."""
    keys: U64Array
    """One band key per band."""
    probe_lo: U64Array
    """Start of each band's prefix range."""
    probe_hi: U64Array
    """End (exclusive) of each band's prefix range."""


@dataclass(frozen=True)
class LshEncoder:
    """Encodes examples and inputs for a MinHash-LSH index.

    Attributes:
        analyzer: Text to shingles.
        hasher: Token ids to signatures.
        banding: Signatures to band keys.
    """

    analyzer: TextAnalyzer
    hasher: MinHasher
    banding: Banding

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
        return EncodedBatch(tokens.flat, tokens.lens, self.banding.keys(signatures))

    def keys_of_rows(self, tokens: U64Array, lens: IntArray) -> U64Array:
        """Band keys of stored rows given their token ids.

        Args:
            tokens: Token ids, row after row.
            lens: Size of each row.

        Returns:
            ``(n, bands)`` keys.
        """
        return self.banding.keys(self.hasher.signatures_of_rows(tokens, lens))

    def query(self, shingles: set[str]) -> LshQuery:
        """Encode a selection input.

        Args:
            shingles: The input's shingles.

        Returns:
            The query.
        """
        tokens = np.unique(stable_token_hashes(list(shingles)))
        signature = self.hasher.signature_of(tokens)
        keys = self.banding.keys(signature[None, :])[0]
        lo, hi = self.banding.prefix_range(keys)
        return LshQuery(tokens, signature, keys, lo, hi)

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

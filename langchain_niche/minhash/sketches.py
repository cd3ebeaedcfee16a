"""MinHash signatures of token sets, computed in bulk with numpy.

The values are those of ``datasketch.MinHash`` (datasketch 2.x default
permutation scheme, ``"affine32"``, with its default ``sha1_hash32`` hash):

1. each token is hashed to 32 bits: the low 32 bits of
   :func:`langchain_niche.text.stable_token_hashes`, which are datasketch's
   ``sha1_hash32`` of the token's UTF-8 bytes;
2. the hash is pre-mixed once with the 32-bit MurmurHash3 finalizer;
3. permutation ``k`` maps a mixed hash ``h`` to ``a[k] * h + b[k] mod 2**32``,
   where ``a`` (odd) and ``b`` are drawn from ``numpy.random.RandomState(seed)``
   exactly as datasketch draws them;
4. the signature of a set is the element-wise minimum over its tokens; an empty
   set has every value at ``2**32 - 1`` (datasketch's empty MinHash).

So ``MinHasher(num_perm, seed).signatures(batch)[i]`` equals
``datasketch.MinHash(num_perm, seed)`` updated with the UTF-8 bytes of the same
tokens, and signatures interoperate with datasketch users.

Speed comes from doing per-token work once per *distinct* token of a batch (a
:class:`~langchain_niche.text.TokenBatch`), all permutations at once, and the
per-set minimum as one ``numpy.minimum.reduceat`` over a gathered matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from langchain_niche._validation import require_integer_in
from langchain_niche.text import TokenBatch

__all__ = ["EMPTY_HASH", "MAX_NUM_PERM", "MinHasher", "fmix32"]

U32Array = npt.NDArray[np.uint32]

EMPTY_HASH = np.uint32(0xFFFFFFFF)
"""Every value of the signature of an empty set."""

MAX_NUM_PERM = 1024
"""Largest supported number of permutations."""

_MAX_SEED = 2**32 - 1
_TABLE_BYTES = 64 << 20  # permuted-token table held at once (64 MiB)
_BLOCK_SETS = 1024  # sets reduced together (their running minimum stays in cache)

_M1 = np.uint32(0x85EBCA6B)
_M2 = np.uint32(0xC2B2AE35)


def fmix32(values: U32Array) -> U32Array:
    """The 32-bit MurmurHash3 finalizer (a bijection on 32-bit integers).

    Args:
        values: ``uint32`` values.

    Returns:
        The mixed values (a new array).
    """
    h = np.array(values, dtype=np.uint32)
    h ^= h >> np.uint32(16)
    h *= _M1
    h ^= h >> np.uint32(13)
    h *= _M2
    h ^= h >> np.uint32(16)
    return h


def _positions(starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Sorted flat positions of the tokens of the sets starting at ``starts``."""
    total = int(lens.sum())
    shift = starts - (np.cumsum(lens) - lens)
    positions: npt.NDArray[np.int64] = np.arange(total, dtype=np.int64) + np.repeat(shift, lens)
    positions.sort()
    return positions


def check_num_perm(value: object) -> int:
    """``value`` if it is a number of permutations, an integer in ``[2, MAX_NUM_PERM]``.

    Raises:
        InvalidParameterError: It is not.
    """
    return require_integer_in("num_perm", value, 2, MAX_NUM_PERM)


def check_seed(value: object) -> int:
    """``value`` if it is a permutation seed (``numpy.random.RandomState``'s), in ``[0, 2**32 - 1]``.

    Raises:
        InvalidParameterError: It is not.
    """
    return require_integer_in("seed", value, 0, _MAX_SEED, shown_maximum="2**32 - 1")


@dataclass(frozen=True)
class MinHasher:
    """Computes datasketch-compatible MinHash signatures for many token sets at once.

    Attributes:
        num_perm: Number of permutations (signature length), in ``[2, 1024]``.
        seed: Seed of the permutations (datasketch's ``seed``; default 1 as there).

    Example:
        ```python
        from langchain_niche.text import TokenBatch

        hasher = MinHasher(num_perm=128, seed=1)
        sigs = hasher.signatures(TokenBatch.from_sets([{"new", "york"}, {"york"}]))
        sigs.shape  # (2, 128), dtype uint32
        # equal to datasketch.MinHash(128, 1) updated with b"new", b"york"
        ```
    """

    num_perm: int = 128
    seed: int = 1
    _a: U32Array = field(init=False, repr=False, compare=False)
    _b: U32Array = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_num_perm(self.num_perm)
        check_seed(self.seed)
        gen = np.random.RandomState(self.seed)
        a = gen.randint(0, 1 << 31, self.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, self.num_perm, dtype=np.uint32)
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_b", b)

    @property
    def permutations(self) -> tuple[U32Array, U32Array]:
        """The ``(a, b)`` parameters (copies), as ``datasketch.MinHash.permutations``."""
        return self._a.copy(), self._b.copy()

    def permuted(self, token_ids: npt.NDArray[np.uint64]) -> U32Array:
        """Apply every permutation to every token.

        Args:
            token_ids: Stable token ids (only their low 32 bits are used).

        Returns:
            A ``(len(token_ids), num_perm)`` array of permuted hash values.
        """
        mixed = fmix32(np.asarray(token_ids, dtype=np.uint64).astype(np.uint32))
        out: U32Array = mixed[:, None] * self._a[None, :]
        out += self._b[None, :]
        return out

    def signatures(self, batch: TokenBatch) -> U32Array:
        """Signatures of every set of a batch.

        Args:
            batch: Token sets (see :meth:`TokenBatch.from_sets`).

        Returns:
            A ``(len(batch), num_perm)`` ``uint32`` array; the rows of empty sets
            are all :data:`EMPTY_HASH`.
        """
        n = len(batch)
        out = np.full((n, self.num_perm), EMPTY_HASH, dtype=np.uint32)
        if n == 0 or batch.local.shape[0] == 0:
            return out
        starts = np.cumsum(batch.lens) - batch.lens
        # Sets sorted by size: each block pads its sets to its largest one.
        order = np.argsort(batch.lens, kind="stable")
        order = order[batch.lens[order] > 0]
        table_bytes = batch.vocab.shape[0] * self.num_perm * 4
        if table_bytes <= _TABLE_BYTES:
            table = self._padded_table(batch.vocab)
            for lo in range(0, order.shape[0], _BLOCK_SETS):
                rows = order[lo : lo + _BLOCK_SETS]
                out[rows] = self._block_minimum(table, batch, starts, rows, None)
            return out
        # Large vocabulary: permute only the tokens of each group of sets.
        group = max(_BLOCK_SETS, _TABLE_BYTES // (self.num_perm * 4 * 32))
        for glo in range(0, order.shape[0], group):
            group_rows = order[glo : glo + group]
            token_pos = _positions(starts[group_rows], batch.lens[group_rows])
            used, remap = np.unique(batch.local[token_pos], return_inverse=True)
            table = self._padded_table(batch.vocab[used])
            lookup = (used, remap.reshape(-1).astype(np.int64), token_pos)
            for lo in range(0, group_rows.shape[0], _BLOCK_SETS):
                rows = group_rows[lo : lo + _BLOCK_SETS]
                out[rows] = self._block_minimum(table, batch, starts, rows, lookup)
        return out

    def _padded_table(self, token_ids: npt.NDArray[np.uint64]) -> U32Array:
        """Permuted values of ``token_ids`` plus a last all-:data:`EMPTY_HASH` row."""
        table = np.empty((token_ids.shape[0] + 1, self.num_perm), dtype=np.uint32)
        table[:-1] = self.permuted(token_ids)
        table[-1] = EMPTY_HASH
        return table

    def _block_minimum(
        self,
        table: U32Array,
        batch: TokenBatch,
        starts: npt.NDArray[np.int64],
        rows: npt.NDArray[np.intp],
        lookup: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None,
    ) -> U32Array:
        """Minimum over each set's rows of ``table`` for a block of non-empty sets."""
        lens = batch.lens[rows]
        width = int(lens.max())
        pos = np.arange(width, dtype=np.int64)[None, :]
        valid = pos < lens[:, None]
        flat_pos = np.where(valid, starts[rows][:, None] + pos, 0)
        if lookup is None:
            idx = batch.local[flat_pos]
        else:
            _, remap, token_pos = lookup
            # positions of this block's tokens inside the group's token list
            idx = remap[np.searchsorted(token_pos, flat_pos)]
        idx = np.where(valid, idx, table.shape[0] - 1)
        result = table[idx[:, 0]]
        scratch = np.empty_like(result)
        for j in range(1, width):
            np.take(table, idx[:, j], axis=0, out=scratch)
            np.minimum(result, scratch, out=result)
        return result

    def signature_of(self, token_ids: npt.NDArray[np.uint64]) -> U32Array:
        """Signature of one set given its distinct token ids.

        Args:
            token_ids: The set's distinct stable token ids.

        Returns:
            A ``(num_perm,)`` ``uint32`` array.
        """
        if token_ids.shape[0] == 0:
            return np.full(self.num_perm, EMPTY_HASH, dtype=np.uint32)
        signature: U32Array = self.permuted(token_ids).min(axis=0)
        return signature

    @staticmethod
    def mix(token_ids: npt.NDArray[np.uint64]) -> U32Array:
        """The pre-mixed 32-bit hashes of token ids (step 2 of the module docstring).

        Args:
            token_ids: Stable token ids.

        Returns:
            ``fmix32`` of their low 32 bits.
        """
        return fmix32(np.asarray(token_ids, dtype=np.uint64).astype(np.uint32))

    def signature_of_mixed(self, mixed: U32Array) -> U32Array:
        """Signature of one set given the :meth:`mix` of its distinct token ids.

        Args:
            mixed: ``uint32`` pre-mixed hashes (at least one).

        Returns:
            A ``(num_perm,)`` ``uint32`` array, equal to :meth:`signature_of`'s.
        """
        table = np.multiply.outer(mixed, self._a)
        table += self._b
        signature: U32Array = table.min(axis=0)
        return signature

    def signatures_of_rows(
        self, tokens: npt.NDArray[np.uint64], lens: npt.NDArray[np.int64]
    ) -> U32Array:
        """Signatures of sets given as one flat array of token ids and their sizes.

        Args:
            tokens: Token ids of all sets, set after set (distinct within a set).
            lens: Size of each set.

        Returns:
            A ``(len(lens), num_perm)`` ``uint32`` array.
        """
        vocab, local = np.unique(tokens, return_inverse=True)
        return self.signatures(
            TokenBatch(vocab, local.astype(np.int64).reshape(-1), lens.astype(np.int64))
        )

    @staticmethod
    def estimate(query: U32Array, signatures: U32Array) -> npt.NDArray[np.float64]:
        """MinHash estimate of Jaccard similarity (datasketch's ``MinHash.jaccard``).

        Args:
            query: One signature, ``(num_perm,)``.
            signatures: Signatures to compare with, ``(n, num_perm)``.

        Returns:
            The fraction of equal values, one per signature.
        """
        equal = (signatures == query[None, :]).sum(axis=1, dtype=np.int64)
        estimate: npt.NDArray[np.float64] = equal / query.shape[0]
        return estimate

"""Token ids: shingles to stable 64-bit ids, and batches of shingle sets as id arrays.

The last step of the text pipeline (:mod:`langchain_niche.text`): every process
and every machine maps a shingle to the same id, so indexes can be saved and
shared, and the ids feed MinHash signatures that match datasketch's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_niche._arrays import unique_sorted
from langchain_niche.errors import TokenizerError, preview

__all__ = ["TokenBatch", "stable_token_hashes", "token_text"]


def token_text(token: Any, *, where: str = "got", text: str | None = None) -> str:
    """Return a token as ``str``: ``bytes`` are decoded as UTF-8, as datasketch users write them.

    ``b"new"`` and ``"new"`` are the same token: their ids (and so MinHash
    signatures) equal datasketch's for ``MinHash.update(b"new")``.

    Args:
        token: A token.
        where: Who produced it, for the error message.
        text: The text it came from, for the error message.

    Returns:
        The token as text.

    Raises:
        TokenizerError: The token is neither ``str`` nor ``bytes``, or its bytes
            are not valid UTF-8 (the error names the token).
    """
    source = "" if text is None else f" for text {preview(text)}"
    if isinstance(token, str):
        return str(token)
    if isinstance(token, bytes | bytearray):
        try:
            return bytes(token).decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{where} the token {preview(token)}{source}, which is not valid UTF-8 ({exc.reason})"
            raise TokenizerError(msg) from exc
    msg = (
        f"{where} a non-string token {preview(token)} ({type(token).__name__}){source}; "
        "tokens must be str (or UTF-8 bytes)"
    )
    raise TokenizerError(msg)


def stable_token_hashes(tokens: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Map tokens to stable 64-bit ids (the first 8 bytes of SHA-1, little-endian).

    The low 32 bits equal ``datasketch.hashfunc.sha1_hash32`` of the UTF-8 bytes,
    so the same ids feed MinHash signatures that match datasketch's. A ``bytes``
    token is decoded as UTF-8 (:func:`token_text`): ``b"new"`` gets the id of
    ``"new"``, as ``datasketch.MinHash.update(b"new")`` hashes the same bytes.

    Args:
        tokens: Tokens (hashed once each, in order).

    Returns:
        An array of ``uint64``, one id per token.
    """
    sha1 = hashlib.sha1  # a fingerprint, not security
    try:
        blob = b"".join(
            [sha1(token.encode("utf-8", "surrogatepass")).digest()[:8] for token in tokens]
        )
    except (AttributeError, TypeError):  # a token that is not a str: bytes, or an error
        return stable_token_hashes([token_text(token) for token in tokens])
    return np.frombuffer(blob, dtype="<u8").astype(np.uint64, copy=False)


@dataclass(frozen=True)
class TokenBatch:
    """The token ids of a batch of shingle sets, each distinct shingle hashed once.

    Set ``i`` is ``vocab[local[start_i : start_i + lens[i]]]`` where ``start_i`` is
    the sum of the previous ``lens``. Keeping the distinct ids (``vocab``) apart
    lets per-token work (hashing, MinHash permutations) run once per distinct
    token of the batch instead of once per occurrence.

    Example:
        ```python
        batch = TokenBatch.from_sets([{"a", "b"}, {"b"}, set()])
        batch.lens  # array([2, 1, 0])
        batch.flat  # the 3 token ids, set after set
        ```
    """

    vocab: npt.NDArray[np.uint64]
    """Distinct token ids (:func:`stable_token_hashes`) in first-seen order."""
    local: npt.NDArray[np.int64]
    """For every token of every set, its position in ``vocab``."""
    lens: npt.NDArray[np.int64]
    """Number of tokens of every set."""

    @classmethod
    def from_sets(cls, sets: Iterable[Iterable[str]]) -> TokenBatch:
        """Encode shingle sets (each an iterable of *distinct* shingles).

        Args:
            sets: The shingle sets, in order. ``bytes`` shingles are decoded as
                UTF-8 (``b"new"`` and ``"new"`` are the same shingle).

        Returns:
            The batch.

        Raises:
            TokenizerError: A shingle is neither ``str`` nor UTF-8 ``bytes``.
        """
        cache: dict[str, int] = {}
        setdefault = cache.setdefault
        local: list[int] = []
        lens: list[int] = []
        for shingles in sets:
            before = len(local)
            local.extend([setdefault(token, len(cache)) for token in shingles])
            lens.append(len(local) - before)
        vocab = list(cache)
        local_ids = np.asarray(local, dtype=np.int64)
        set_lens = np.asarray(lens, dtype=np.int64)
        if not all(type(token) is str for token in vocab):
            return cls._from_mixed(vocab, local_ids, set_lens)
        return cls(stable_token_hashes(vocab), local_ids, set_lens)

    @classmethod
    def _from_mixed(
        cls, vocab: list[Any], local: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]
    ) -> TokenBatch:
        """``from_sets`` when some shingles are ``bytes``: decode, then merge equal ones."""
        texts = [token_text(token) for token in vocab]
        position: dict[str, int] = {}
        remap = np.fromiter(
            (position.setdefault(text, len(position)) for text in texts),
            dtype=np.int64,
            count=len(texts),
        )
        if len(position) < len(texts):  # b"x" and "x" in one batch: one token, once per set
            size = len(position)
            rows = np.repeat(np.arange(lens.shape[0], dtype=np.int64), lens)
            pairs = unique_sorted(rows * size + remap[local])
            rows, local = np.divmod(pairs, size)
            lens = np.bincount(rows, minlength=lens.shape[0]).astype(np.int64)
        return cls(stable_token_hashes(list(position)), local.astype(np.int64), lens)

    def __len__(self) -> int:
        return int(self.lens.shape[0])

    @property
    def flat(self) -> npt.NDArray[np.uint64]:
        """The token ids of all sets, set after set."""
        flat: npt.NDArray[np.uint64] = self.vocab[self.local]
        return flat

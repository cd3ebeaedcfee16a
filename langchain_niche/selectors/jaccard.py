"""Exact Jaccard example selection over an inverted index.

The selector's examples and per-field indexes are an
:class:`~langchain_niche.selectors.memory_store.IndexedStore` (shared with the
in-memory MinHash backend) whose index is a
:class:`~langchain_niche.selectors.token_index.TokenSetIndex`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import PrivateAttr

from langchain_niche import scoring
from langchain_niche.errors import (
    ExampleNotFoundError,
    InvalidExampleError,
    MissingKeyError,
)
from langchain_niche.persistence import (
    IndexReader,
    build_from_config,
)
from langchain_niche.scope import Scope
from langchain_niche.selectors.base import (
    Candidate,
    Examples,
    Ids,
    LexicalExampleSelector,
    jaccard,
)
from langchain_niche.selectors.memory_store import IndexedStore
from langchain_niche.selectors.token_index import TokenSetIndex
from langchain_niche.text import TextAnalyzer, stable_token_hashes

__all__ = ["JaccardExampleSelector"]


IntArray = npt.NDArray[np.int64]
Encoded = tuple[npt.NDArray[np.uint64], IntArray]


class _JaccardStore(IndexedStore[TokenSetIndex, Encoded]):
    """The examples and one inverted index per set of compared fields."""

    def __init__(self, analyzer: TextAnalyzer, fixed_keys: tuple[str, ...] | None) -> None:
        self.analyzer = analyzer
        super().__init__(fixed_keys)

    def _new_index(self) -> TokenSetIndex:
        return TokenSetIndex()

    def _encode(self, examples: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> Encoded:
        tokens = self.analyzer.encode_examples(examples, keys)
        return tokens.flat, tokens.lens

    def _append(self, index: TokenSetIndex, encoded: Encoded, rows: IntArray, n_rows: int) -> None:
        flat, lens = encoded
        start = index.n_rows
        if rows.shape[0] != n_rows - start:  # a build over removed rows: they stay empty
            all_lens = np.zeros(n_rows - start, dtype=np.int64)
            all_lens[rows - start] = lens
            lens = all_lens
        index.append_flat(flat, lens)

    def _built(self, index: TokenSetIndex) -> None:
        index.flush()


class JaccardExampleSelector(LexicalExampleSelector):
    r"""Select the few-shot examples whose token sets are most similar to the input.

    The score is the exact Jaccard similarity ``|A & B| / |A | B|`` of the
    input's and the example's token sets. An inverted index (numpy arrays, about
    4 bytes per distinct token of an example) makes a query cost proportional to
    the examples that share a token with the input, not to the corpus size.

    Which fields are compared: ``input_keys`` when given; otherwise the input's
    own fields that the examples have (an example's ``answer`` is never compared
    unless the input has an ``answer``). Several fields are taken in sorted key
    order and tokenized separately. With ``input_keys=None`` the index for a set
    of fields is built on the first query that uses it; pass ``input_keys`` to
    build (and validate every example) up front.

    Results: at most ``k`` examples, highest score first, ties broken by
    insertion order. Examples sharing no token with the input, or scoring below
    ``threshold``, are never returned, so an empty input or an input without any
    overlap selects ``[]`` (the few-shot prompt then has no examples).

    Thread safety: adds, removals and selections may run concurrently from many
    threads; a selection sees an example either completely or not at all.

    Example:
        ```python
        from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate
        from langchain_niche import JaccardExampleSelector

        examples = [
            {"input": "happy", "output": "sad"},
            {"input": "tall", "output": "short"},
            {"input": "sunny day", "output": "rainy day"},
        ]
        selector = JaccardExampleSelector(examples=examples, k=2, input_keys=["input"])
        selector.select_examples_with_scores({"input": "a sunny afternoon"})
        # [({'input': 'sunny day', 'output': 'rainy day'}, 0.25)]
        prompt = FewShotPromptTemplate(
            example_selector=selector,
            example_prompt=PromptTemplate.from_template("Input: {input}\\nOutput: {output}"),
            prefix="Give the antonym of every input.",
            suffix="Input: {input}\\nOutput:",
            input_variables=["input"],
        )
        ```
    """

    _storage: _JaccardStore = PrivateAttr()

    def __init__(self, examples: Examples = None, *, ids: Ids = None, **kwargs: Any) -> None:
        """Create a selector, optionally with initial examples (see the base class)."""
        super().__init__(examples, ids=ids, **kwargs)

    def _open_storage(self, settings: dict[str, Any]) -> _JaccardStore:
        fixed = tuple(sorted(self.input_keys)) if self.input_keys else None
        return _JaccardStore(self._analyzer, fixed)

    # -- selecting -------------------------------------------------------------------
    def _candidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None = None
    ) -> list[Candidate]:
        query = stable_token_hashes(list(shingles))
        index = self._storage.index_for(keys)
        with self._storage.lock:
            store = self._storage.store
            # only the scope's rows are ranked, and BM25 counts only them (issue 14)
            within = None if scope is None else store.scope_rows(scope)
            alive = store.alive if store.n_dead and within is None else None
            if self.similarity == "bm25":
                rows, scores = index.top_k_bm25(
                    query,
                    limit,
                    k1=self.bm25_k1,
                    b=self.bm25_b,
                    threshold=self.threshold,
                    alive=alive,
                    within=within,
                )
            else:
                rows, scores = index.top_k(
                    query, limit, threshold=self.threshold, alive=alive, within=within
                )
            return [
                Candidate(store.id_of(row), store.get(row), score)
                for row, score in zip(rows.tolist(), scores.tolist(), strict=True)
            ]

    def scores_for(
        self,
        input_variables: dict[str, Any],
        example_ids: Sequence[str],
        *,
        scope: Scope | None = None,
    ) -> list[float | None]:
        """Score given examples against an input with the configured similarity.

        The scores are exactly those :meth:`search` would report (Jaccard, or BM25
        with the current corpus statistics), whether or not the examples would
        make the top ``k``; used to re-rank candidates found elsewhere (e.g. by a
        vector store).

        Args:
            input_variables: The prompt's input variables.
            example_ids: Ids of stored examples.
            scope: The selection's scope (:meth:`scope_of`), if any: BM25 then
                uses the scope's statistics, as a scoped :meth:`search` does.

        Returns:
            One score per id; ``None`` for an id that is not stored.
        """
        keys = self._compared_keys(input_variables)
        if keys is None:
            return [None] * len(example_ids)
        query = self._input_shingles(input_variables, keys)
        index = self._storage.index_for(keys)
        with self._storage.lock:
            store = self._storage.store
            rows = [store.row_of(example_id) for example_id in example_ids]
            if not query:
                return [None if row is None else 0.0 for row in rows]
            sets = [
                None if row is None else self._analyzer.example_shingles(store.get(row), keys)
                for row in rows
            ]
            if self.similarity == "jaccard":
                return [None if tokens is None else jaccard(query, tokens) for tokens in sets]
            ordered = list(query)
            within = None
            if scope is not None and not scope.is_unrestricted():
                within = store.scope_rows(scope)
            idf, avg_len = index.bm25_statistics(stable_token_hashes(ordered), within=within)
            idf_of = dict(zip(ordered, idf.tolist(), strict=True))
            present = [tokens for tokens in sets if tokens is not None]
            scores = iter(
                scoring.bm25_scores(
                    [sum(idf_of[t] for t in query & tokens) for tokens in present],
                    [len(tokens) for tokens in present],
                    query_idf=sum(idf_of.values()),
                    k1=self.bm25_k1,
                    b=self.bm25_b,
                    avg_len=avg_len,
                ).tolist()
            )
            return [None if tokens is None else next(scores) for tokens in sets]

    # -- persistence -------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str], **overrides: Any) -> JaccardExampleSelector:
        """Load a selector written by :meth:`save`.

        Args:
            path: The file.
            **overrides: Settings to use instead of the saved ones. Callables are
                never saved: pass ``tokenizer=`` again when the index was built with
                a custom tokenizer, and ``token_counter=`` / ``example_prompt=`` if
                you use them.

        Returns:
            A selector with the same examples, ids and settings, which makes the
            same selections.

        Raises:
            IndexFormatError: The file is not a saved selector of this class, is
                corrupt or inconsistent (the message names the member and the
                problem), or was built with a custom tokenizer that was not passed
                again. Reading is bounded: see :mod:`langchain_niche.persistence`.
        """
        with IndexReader(path, kind=cls.__name__) as reader:
            config = cls._saved_config(reader, path, overrides)
            selector = build_from_config(reader, cls, config, overrides)
            compared = selector._storage.restore_records(reader)
            try:
                for keys in compared:
                    selector._storage.index_for(keys)
            except (MissingKeyError, InvalidExampleError) as exc:
                msg = f"cannot index the saved fields: {exc}"
                raise reader.error(msg, "examples.jsonl") from exc
        if selector.input_keys:
            selector._storage.index_for(tuple(sorted(selector.input_keys)))
        return selector

    # -- lookup by id ------------------------------------------------------------------
    def get_examples(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Return copies of the examples with these ids, in the order of ``ids``.

        The lookup is one consistent snapshot: no example is added or removed
        while it runs.

        Args:
            ids: Example ids (as returned by ``add_example(s)`` or :attr:`ids`).

        Returns:
            One copy per id (a repeated id gives equal copies).

        Raises:
            ExampleNotFoundError: An id is unknown; the message names the first one.
        """
        with self._storage.lock:
            store = self._storage.store
            out = []
            for example_id in ids:
                row = store.row_of(example_id) if isinstance(example_id, str) else None
                if row is None:
                    msg = f"no example has id {example_id!r}"
                    raise ExampleNotFoundError(msg)
                out.append(dict(store.get(row)))
            return out

"""Exact Jaccard example selection over an inverted index."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from langchain_core.runnables.config import run_in_executor
from pydantic import PrivateAttr

from langchain_niche import scoring
from langchain_niche.errors import (
    ExampleNotFoundError,
    IndexFormatError,
    InvalidExampleError,
    InvalidParameterError,
    MissingKeyError,
    preview,
)
from langchain_niche.persistence import (
    IndexReader,
    build_from_config,
    saved_setting_names,
    write_index_file,
)
from langchain_niche.scope import Scope
from langchain_niche.selectors.base import (
    Candidate,
    LexicalExampleSelector,
    copy_examples,
    jaccard,
)
from langchain_niche.selectors.example_store import ExampleStore
from langchain_niche.selectors.token_index import TokenSetIndex
from langchain_niche.text import stable_token_hashes

__all__ = ["JaccardExampleSelector"]

_COMPACT_MIN_DEAD = 1024
_ASYNC_INLINE_BATCH = 256
_UNSAVED = ("token_counter", "example_prompt")  # callables and prompts are never saved

Encoded = tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]


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

    _store: ExampleStore = PrivateAttr(default_factory=ExampleStore)
    _indexes: dict[tuple[str, ...], TokenSetIndex] = PrivateAttr(default_factory=dict)

    def __init__(
        self,
        examples: Iterable[Mapping[str, Any]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Create a selector, optionally with initial examples.

        Args:
            examples: Initial examples (dicts of field name to text).
            ids: Optional ids for the initial examples (default: ``"0"``, ``"1"``, ...).
            **kwargs: The selector's settings (``k``, ``input_keys``, ...).
        """
        super().__init__(**kwargs)
        if self.input_keys:
            self._indexes[tuple(sorted(self.input_keys))] = TokenSetIndex()
        if examples is not None:
            self.add_examples(examples, ids=ids)

    @classmethod
    def from_examples(
        cls, examples: Iterable[Mapping[str, Any]], **kwargs: Any
    ) -> JaccardExampleSelector:
        """Create a selector from examples.

        Args:
            examples: The examples.
            **kwargs: Settings, as for the constructor (``ids`` included).

        Returns:
            The selector.
        """
        return cls(examples=examples, **kwargs)

    @classmethod
    async def afrom_examples(
        cls, examples: Iterable[Mapping[str, Any]], **kwargs: Any
    ) -> JaccardExampleSelector:
        """Async twin of :meth:`from_examples` (builds in the default executor).

        Args:
            examples: The examples.
            **kwargs: Settings, as for the constructor.

        Returns:
            The selector.
        """
        examples = list(examples)
        return await run_in_executor(None, lambda: cls(examples=examples, **kwargs))

    # -- size and content -------------------------------------------------------
    def __len__(self) -> int:
        return len(self._store)

    @property
    def examples(self) -> list[dict[str, Any]]:
        """Copies of the stored examples, in insertion order."""
        with self._lock:
            return [dict(example) for _, example in self._store.iter_live()]

    @property
    def ids(self) -> list[str]:
        """Ids of the stored examples, in insertion order."""
        with self._lock:
            return [self._store.id_of(row) for row, _ in self._store.iter_live()]

    @property
    def index_nbytes(self) -> int:
        """Bytes held by the index arrays (excluding the example dicts themselves)."""
        with self._lock:
            store = self._store
            store_bytes = store.n_rows * (8 + 1 + 8)  # seq, alive flag, list slot
            return store_bytes + sum(index.nbytes for index in self._indexes.values())

    def _known_keys(self) -> Iterable[str]:
        return self._store.keys

    # -- adding -------------------------------------------------------------------
    def _encode(self, batch: Sequence[Mapping[str, Any]], keys: tuple[str, ...]) -> Encoded:
        """Token ids of the compared fields of every example (validates them)."""
        tokens = self._analyzer.encode_examples(batch, keys)
        return tokens.flat, tokens.lens

    def add_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Add examples in one batch: all of them are added, or none.

        Args:
            examples: Dicts of field name to text (copies are stored).
            ids: Optional ids, one per example (default: insertion numbers).

        Returns:
            The ids of the added examples.

        Raises:
            InvalidExampleError: An example is not a dict, or a compared field is
                not text (the error names the example's position and the field).
            MissingKeyError: An example lacks a compared field.
            TokenizerError: The custom tokenizer failed.
            DuplicateIdError: An id is already used.
        """
        batch = copy_examples(examples, ids=ids)
        if not batch:
            return []
        with self._lock:
            self._store.plan_ids(len(batch), ids)
            keys_list = list(self._indexes)
        encoded = {keys: self._encode(batch, keys) for keys in keys_list}
        with self._lock:
            for keys in self._indexes:
                if keys not in encoded:  # built by a concurrent query meanwhile
                    encoded[keys] = self._encode(batch, keys)
            planned = self._store.plan_ids(len(batch), ids)
            new_ids = self._store.append(batch, planned)
            for keys, index in self._indexes.items():
                index.append_flat(*encoded[keys])
        return new_ids

    async def aadd_example(
        self, example: Mapping[str, Any], *, example_id: str | None = None
    ) -> str:
        """Async twin of :meth:`add_example` (a single add is cheap and runs inline).

        Args:
            example: A dict of field name to text.
            example_id: Optional id.

        Returns:
            The example's id.
        """
        return self.add_example(example, example_id=example_id)

    async def aadd_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Async twin of :meth:`add_examples` (large batches run in the executor).

        Args:
            examples: The examples.
            ids: Optional ids.

        Returns:
            The ids of the added examples.
        """
        batch = list(examples)
        if len(batch) <= _ASYNC_INLINE_BATCH:
            return self.add_examples(batch, ids=ids)
        return await run_in_executor(None, lambda: self.add_examples(batch, ids=ids))

    # -- removing -------------------------------------------------------------------
    def remove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Remove an example by id, or every stored example equal to a dict.

        Args:
            example: An id returned by ``add_example(s)``, or an example dict.

        Returns:
            The ids removed.

        Raises:
            ExampleNotFoundError: Nothing matches.
            InvalidParameterError: ``example`` is neither a string nor a dict.
        """
        with self._lock:
            if isinstance(example, str):
                row = self._store.row_of(example)
                if row is None:
                    msg = f"no example has id {example!r}"
                    raise ExampleNotFoundError(msg)
                rows = [row]
            elif isinstance(example, Mapping):
                rows = self._store.rows_equal_to(example)
                if not rows:
                    msg = f"no stored example equals {preview(example)}"
                    raise ExampleNotFoundError(msg)
            else:
                msg = f"remove_example() takes an id or an example dict, got {preview(example)}"
                raise InvalidParameterError(msg, name="example", value=example)
            removed = self._store.remove_rows(rows)
            self._maybe_compact()
        return removed

    async def aremove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Async twin of :meth:`remove_example`.

        Args:
            example: An id or an example dict.

        Returns:
            The ids removed.
        """
        return self.remove_example(example)

    def _maybe_compact(self) -> None:
        store = self._store
        if store.n_dead >= max(_COMPACT_MIN_DEAD, store.n_rows // 4):
            keep = store.compact()
            for index in self._indexes.values():
                index.compact(keep)

    # -- selecting -------------------------------------------------------------------
    def _index_for(self, keys: tuple[str, ...]) -> TokenSetIndex:
        with self._lock:
            index = self._indexes.get(keys)
            if index is not None:
                return index
            rows = list(self._store.iter_live())
            try:
                flat, lens = self._encode([example for _, example in rows], keys)
            except (MissingKeyError, InvalidExampleError) as exc:
                bad = rows[exc.index][0] if exc.index is not None else None
                where = f"example {self._store.id_of(bad)!r}" if bad is not None else "an example"
                msg = f"cannot compare on fields {list(keys)}: {where}: {exc}"
                raise type(exc)(msg, index=exc.index, key=exc.key) from exc  # type: ignore[arg-type]
            all_lens = np.zeros(self._store.n_rows, dtype=np.int64)
            all_lens[[row for row, _ in rows]] = lens
            index = TokenSetIndex()
            index.append_flat(flat, all_lens)
            index.flush()
            self._indexes[keys] = index
            return index

    def _search_is_cheap(self, input_variables: Mapping[str, Any]) -> bool:
        try:
            keys = self._compared_keys(input_variables)
        except (KeyError, TypeError, ValueError):
            return True  # the sync path raises the error
        return keys is None or keys in self._indexes

    def _candidates(
        self, keys: tuple[str, ...], shingles: set[str], limit: int, scope: Scope | None = None
    ) -> list[Candidate]:
        query = stable_token_hashes(list(shingles))
        index = self._index_for(keys)
        with self._lock:
            store = self._store
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
        index = self._index_for(keys)
        with self._lock:
            rows = [self._store.row_of(example_id) for example_id in example_ids]
            if not query:
                return [None if row is None else 0.0 for row in rows]
            sets = [
                None if row is None else self._analyzer.example_shingles(self._store.get(row), keys)
                for row in rows
            ]
            if self.similarity == "jaccard":
                return [None if tokens is None else jaccard(query, tokens) for tokens in sets]
            ordered = list(query)
            within = None
            if scope is not None and not scope.is_unrestricted():
                within = self._store.scope_rows(scope)
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
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the examples, their ids and the settings to one file.

        The file is a zip of JSON (settings, examples) and a numpy array of
        insertion numbers; nothing in it is pickled. The index itself is rebuilt
        on :meth:`load`, so a file can never hold an index that disagrees with its
        examples. The write is atomic (temporary file, then rename).

        Args:
            path: Destination file (conventionally ``*.niche.zip``).

        Returns:
            The path written.

        Raises:
            InvalidExampleError: An example would not survive JSON unchanged.
        """
        with self._lock:
            store = self._store
            records = [(store.id_of(row), example) for row, example in store.iter_live()]
            seqs = store.live_seqs()
            return write_index_file(
                path,
                kind=type(self).__name__,
                config=self._settings(),
                records=records,
                arrays={"seq": seqs},
                extra={
                    "next_seq": store.next_seq,
                    "compared_keys": [list(keys) for keys in self._indexes],
                },
            )

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
            config = reader.config(saved_setting_names(cls, exclude=_UNSAVED))
            tokenizer_name = config.pop("tokenizer", "default")
            if tokenizer_name != "default" and "tokenizer" not in overrides:
                msg = (
                    f"{path} was built with the custom tokenizer {tokenizer_name}; "
                    "pass it again: load(path, tokenizer=...)"
                )
                raise IndexFormatError(msg)
            if isinstance(config.get("ngram_range"), list):
                config["ngram_range"] = tuple(config["ngram_range"])
            selector = build_from_config(reader, cls, config, overrides)
            next_seq = reader.integer("next_seq", default=0)
            compared = reader.compared_keys()
            records = reader.records()
            seqs = reader.array("seq", kinds="iu", shape=(len(records),))
            try:
                selector._store.restore(
                    [example for _, example in records],
                    [example_id for example_id, _ in records],
                    seqs.astype(np.int64),
                    next_seq,
                )
            except ValueError as exc:
                msg = f"inconsistent ids: {exc}"
                raise reader.error(msg, "seq.npy") from exc
            selector._indexes.clear()
            try:
                for keys in compared:
                    selector._index_for(keys)
            except (MissingKeyError, InvalidExampleError) as exc:
                msg = f"cannot index the saved fields: {exc}"
                raise reader.error(msg, "examples.jsonl") from exc
        if selector.input_keys:
            selector._index_for(tuple(sorted(selector.input_keys)))
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
        with self._lock:
            store = self._store
            out = []
            for example_id in ids:
                row = store.row_of(example_id) if isinstance(example_id, str) else None
                if row is None:
                    msg = f"no example has id {example_id!r}"
                    raise ExampleNotFoundError(msg)
                out.append(dict(store.get(row)))
            return out

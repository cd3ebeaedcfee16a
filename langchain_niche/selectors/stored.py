"""The examples a lexical selector stores: size, content, adding, removing and saving.

:class:`StoredExamples` is the part of
:class:`~langchain_niche.selectors.base.LexicalExampleSelector` that talks to its
storage, written once for every selector over the small :class:`ExampleStorage`
interface: the in-memory :class:`~langchain_niche.selectors.memory_store.IndexedStore`
(Jaccard) and the MinHash storages
(:class:`~langchain_niche.minhash.storage.LshStorage`: memory or Redis).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, Protocol

from langchain_niche.errors import IndexFormatError
from langchain_niche.persistence import IndexReader, saved_setting_names, write_index_file
from langchain_niche.selectors.examples import Record, SavedState, copy_examples

__all__ = ["ExampleStorage", "StoredExamples"]


class ExampleStorage(Protocol):
    """Where a selector keeps its examples: the in-memory store or a storage backend."""

    @property
    def nbytes(self) -> int:
        """Bytes of index arrays held in this process."""
        ...

    def state_lock(self) -> AbstractContextManager[Any]:
        """The lock under which this process's copy is consistent."""
        ...

    def is_cheap(self, compared: tuple[str, ...] | None, *, exact_fallback: bool) -> bool:
        """Whether a selection may run on the event loop."""
        ...

    def add(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Add validated copies of examples; returns their ids."""
        ...

    async def aadd(self, examples: list[dict[str, Any]], ids: Sequence[str] | None) -> list[str]:
        """Async twin of :meth:`add`."""
        ...

    def remove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Remove an example by id, or every example equal to a dict."""
        ...

    async def aremove(self, target: str | Mapping[str, Any]) -> list[str]:
        """Async twin of :meth:`remove`."""
        ...

    def count(self) -> int:
        """Number of stored examples."""
        ...

    def all_records(self) -> list[Record]:
        """Every ``(id, example)``, in insertion order."""
        ...

    def known_keys(self) -> list[str]:
        """Every field name seen in an example."""
        ...

    def saved_state(self) -> SavedState:
        """A snapshot to write to a file (refused by a storage persisted by its server)."""
        ...


class StoredExamples:
    """Size, content, adds, removals and saving of a selector, over its ``_storage``."""

    __pydantic_private__: dict[str, Any] | None
    _storage: ExampleStorage

    def _storage_or_none(self) -> ExampleStorage | None:
        private = self.__pydantic_private__ or {}
        storage: ExampleStorage | None = private.get("_storage")
        return storage

    def _state_lock(self) -> AbstractContextManager[Any]:
        storage = self._storage_or_none()
        return nullcontext() if storage is None else storage.state_lock()

    # -- size and content -------------------------------------------------------
    def __len__(self) -> int:
        return self._storage.count()

    @property
    def examples(self) -> list[dict[str, Any]]:
        """Copies of the stored examples, in insertion order (a full read with Redis)."""
        return [dict(example) for _, example in self._storage.all_records()]

    @property
    def ids(self) -> list[str]:
        """Ids of the stored examples, in insertion order (a full read with Redis)."""
        return [example_id for example_id, _ in self._storage.all_records()]

    @property
    def index_nbytes(self) -> int:
        """Bytes of the in-memory index arrays (0 for Redis; example dicts excluded)."""
        return self._storage.nbytes

    def _known_keys(self) -> Iterable[str]:
        return self._storage.known_keys()

    # -- adding and removing ------------------------------------------------------
    def add_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Add examples.

        In memory a batch is atomic: all examples are added, or none. In Redis
        every example is written atomically (fully selectable or absent, even if
        the process dies), in atomic steps of ``redis_batch_size`` examples;
        the whole batch is validated before the first step.

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
        return self._storage.add(batch, ids) if batch else []

    async def aadd_examples(
        self, examples: Iterable[Mapping[str, Any]], *, ids: Sequence[str] | None = None
    ) -> list[str]:
        """Async twin of :meth:`add_examples`.

        Native async with Redis; in memory a large batch is encoded in the
        default executor.

        Args:
            examples: The examples.
            ids: Optional ids.

        Returns:
            The ids of the added examples.
        """
        batch = copy_examples(examples, ids=ids)
        return await self._storage.aadd(batch, ids) if batch else []

    def add_example(self, example: Mapping[str, Any], *, example_id: str | None = None) -> str:
        """Add one example.

        Args:
            example: A dict of field name to text.
            example_id: Optional id (default: its insertion number).

        Returns:
            The example's id.
        """
        return self.add_examples([example], ids=None if example_id is None else [example_id])[0]

    async def aadd_example(
        self, example: Mapping[str, Any], *, example_id: str | None = None
    ) -> str:
        """Async twin of :meth:`add_example`.

        Args:
            example: A dict of field name to text.
            example_id: Optional id.

        Returns:
            The example's id.
        """
        ids = None if example_id is None else [example_id]
        return (await self.aadd_examples([example], ids=ids))[0]

    def remove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Remove an example by id, or every stored example equal to a dict.

        Removing by dict compares with every stored example (a full read with Redis).

        Args:
            example: An id returned by ``add_example(s)``, or an example dict.

        Returns:
            The ids removed.

        Raises:
            ExampleNotFoundError: Nothing matches.
            InvalidParameterError: ``example`` is neither a string nor a dict.
        """
        return self._storage.remove(example)

    async def aremove_example(self, example: Mapping[str, Any] | str) -> list[str]:
        """Async twin of :meth:`remove_example`.

        Args:
            example: An id or an example dict.

        Returns:
            The ids removed.
        """
        return await self._storage.aremove(example)

    # -- saving ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the examples, ids and settings (MinHash: and index arrays) to one file.

        The file is a zip of JSON (settings, examples) and ``.npy`` arrays
        (insertion numbers; MinHash: token ids, band keys); nothing in it is
        pickled, and the write is atomic (temporary file, then rename). The
        Jaccard index is rebuilt on ``load``, so its file can never hold an index
        that disagrees with its examples.

        Args:
            path: Destination file (conventionally ``*.niche.zip``).

        Returns:
            The path written.

        Raises:
            InvalidExampleError: An example would not survive JSON unchanged.
            InvalidParameterError: The selector stores its index in Redis.
        """
        state = self._storage.saved_state()  # MinHash: compacts removed rows first
        return write_index_file(
            path,
            kind=type(self).__name__,
            config=self._saved_settings(),
            records=state.records,
            arrays=state.arrays,
            extra={
                "next_seq": state.next_seq,
                "compared_keys": state.compared_keys,
                **self._saved_extra(),
            },
        )

    def _saved_settings(self) -> dict[str, Any]:
        """The JSON-able settings a file holds."""
        raise NotImplementedError

    def _saved_extra(self) -> dict[str, Any]:
        return {}

    @classmethod
    def _check_overrides(
        cls, path: str | os.PathLike[str], config: dict[str, Any], overrides: Mapping[str, Any]
    ) -> None:
        """Reject ``load`` overrides that contradict the saved file (default: none do)."""

    @classmethod
    def _saved_config(
        cls, reader: IndexReader, path: str | os.PathLike[str], overrides: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The settings a saved file holds, checked against ``load``'s overrides."""
        unsaved = ("token_counter", "example_prompt", *cls._unsaved_settings())
        config = reader.config(saved_setting_names(cls, exclude=unsaved))
        cls._check_overrides(path, config, overrides)
        tokenizer_name = config.pop("tokenizer", "default")
        if tokenizer_name != "default" and "tokenizer" not in overrides:
            msg = (
                f"{path} was built with the custom tokenizer {tokenizer_name}; "
                "pass it again: load(path, tokenizer=...)"
            )
            raise IndexFormatError(msg)
        for name in ("ngram_range", "lsh_weights"):
            if isinstance(config.get(name), list):
                config[name] = tuple(config[name])
        return config

    @classmethod
    def _unsaved_settings(cls) -> tuple[str, ...]:
        """Settings never saved besides callables and prompts."""
        return ()

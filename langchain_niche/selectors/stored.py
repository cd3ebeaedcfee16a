"""The examples a lexical selector stores: size, content, adding and removing.

:class:`StoredExamples` is the part of
:class:`~langchain_niche.selectors.base.LexicalExampleSelector` that talks to its
storage, written once for every selector over the small :class:`ExampleStorage`
interface: the in-memory :class:`~langchain_niche.selectors.memory_store.IndexedStore`
(Jaccard) and the MinHash storages
(:class:`~langchain_niche.minhash.storage.LshStorage`: memory or Redis).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from langchain_niche.selectors.examples import Record, copy_examples

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


class StoredExamples:
    """Size, content, adds and removals of a selector, over its ``_storage``."""

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

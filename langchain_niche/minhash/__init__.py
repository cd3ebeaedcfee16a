"""The MinHash-LSH engine behind ``MinHashExampleSelector``, in one place.

Data flows down this list; each module is one concept:

- ``sketches``: MinHash signatures (datasketch-compatible) of token-id sets.
- ``banding``: ``(b, r)`` for a threshold (datasketch's choice) and band keys.
- ``encoding``: examples and inputs to token ids, signatures and band keys.
- ``prefilter``: 64-byte sketches that pick which candidates to re-rank exactly.
- ``index``: the in-memory band index (sorted keys, probing by band prefix).
- ``selection``: the selection algorithm (banding, pre-filter keep, scores,
  probe/exact fallback, threshold, order), written once for every backend.
- ``storage``: the storage contract: plain sync/async methods a backend answers
  (``lookup``, ``probe``, ``scan``, ``records``, writes, whole-index reads).
- ``memory``: the in-memory backend (its examples and per-field indexes are the
  :class:`~langchain_niche.selectors.memory_store.IndexedStore` the Jaccard
  selector uses too; ``saved`` restores it from a file).
- ``redis``: the Redis backend (URL parsing, connections, index operations, Lua;
  ``plans``: each operation written once as a generator for both clients).
- ``datasketch_interop``: exchange signatures with ``datasketch``.

The selector itself is :class:`langchain_niche.selectors.minhash.MinHashExampleSelector`:
selector -> ``selection.select`` -> ``LshStorage`` -> ``MemoryLshStorage`` or
``RedisLshStorage`` (``ShardedRedisLshStorage`` on a cluster).
"""

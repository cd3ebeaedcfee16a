"""The MinHash-LSH engine behind ``MinHashExampleSelector``, in one place.

Data flows down this list; each module is one concept:

- ``sketches``: MinHash signatures (datasketch-compatible) of token-id sets.
- ``banding``: ``(b, r)`` for a threshold (datasketch's choice) and band keys.
- ``encoding``: examples and inputs to token ids, signatures and band keys.
- ``prefilter``: 64-byte sketches that pick which candidates to re-rank exactly.
- ``index``: the in-memory band index (sorted keys, probing by band prefix).
- ``storage``: the storage contract (the selection algorithm, written once).
- ``memory``: the in-memory backend.
- ``redis``: the Redis backend (URL parsing, connections, index operations, Lua).
- ``datasketch_interop``: exchange signatures with ``datasketch``.

The selector itself is :class:`langchain_niche.selectors.minhash.MinHashExampleSelector`.
"""

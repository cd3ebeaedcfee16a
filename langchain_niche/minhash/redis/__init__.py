"""The Redis backend of the MinHash index (needs the ``redis`` extra)."""

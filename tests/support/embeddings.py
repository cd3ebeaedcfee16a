"""A tiny deterministic embedding model that knows a few synonyms (tests only).

Each word is hashed to one of ``size`` dimensions; words listed as synonyms share
a dimension, so the embedding sees "car" and "automobile" as the same word while
a lexical selector does not. Vectors are L2-normalised bags of words.
"""

from __future__ import annotations

import hashlib
import math

from langchain_core.embeddings import Embeddings

from langchain_niche.text import default_tokenizer

SYNONYMS = {"automobile": "car", "vehicle": "car", "physician": "doctor", "medic": "doctor"}


class SynonymBagEmbeddings(Embeddings):
    def __init__(self, size: int = 256, fail: bool = False) -> None:
        self.size = size
        self.fail = fail
        self.calls = 0

    def _embed(self, text: str) -> list[float]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("embedding service unreachable")
        vector = [0.0] * self.size
        for token in default_tokenizer(text):
            word = SYNONYMS.get(token, token)
            vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % self.size] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)

"""Reads of a sharded index go out as one pipeline; a server without the scripts reloads them.

A promoted replica or a flushed server has no Lua scripts: the pipeline's
``EVALSHA`` calls fail with ``NOSCRIPT``, the scripts are loaded and the pipeline
is sent once more (the blocking and the async client alike).
"""

from __future__ import annotations

import pytest
import redis

from langchain_niche import MinHashExampleSelector
from tests.support.minhash_writer import synthetic_examples

pytestmark = pytest.mark.timeout(60)


async def test_a_flushed_server_reloads_the_scripts_for_pipelined_reads(
    redis_url: str, index_name: str
) -> None:
    corpus = synthetic_examples(0, 200)
    selector = MinHashExampleSelector(
        redis_url=redis_url,
        index_name=index_name,
        examples=corpus,
        input_keys=["question"],
        k=3,
        redis_shards=3,
    )
    query = {"question": corpus[7]["question"]}
    before = selector.select_examples(query)
    assert corpus[7] in before
    client = redis.Redis.from_url(redis_url)
    try:
        client.script_flush()
        assert selector.select_examples(query) == before
        client.script_flush()
        assert await selector.aselect_examples(query) == before
    finally:
        client.close()

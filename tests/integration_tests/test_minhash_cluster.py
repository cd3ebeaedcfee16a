"""MinHashExampleSelector on a real Redis Cluster (3 masters + 3 replicas, issue 15)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from langchain_niche import (
    IndexFormatError,
    InvalidParameterError,
    MinHashExampleSelector,
    StoreUnavailableError,
)
from langchain_niche.datasets import python_api_examples
from langchain_niche.minhash.redis.sharded import ShardedRedisLshStorage, shard_of
from tests.support.redis_cluster import LocalRedisCluster
from tests.support.redis_index import QUERIES as REDIS_QUERIES
from tests.support.redis_index import redis_selector as cluster_selector

QUERIES = [*REDIS_QUERIES, "Open a file for reading text"]


def test_cluster_selections_equal_single_node_and_memory(
    redis_cluster: LocalRedisCluster, redis_url: str, index_name: str
) -> None:
    corpus = python_api_examples()
    # any node's URL: cluster mode is detected; batches smaller than a shard's part
    clustered = cluster_selector(
        redis_cluster.urls[4], index_name, examples=corpus, k=4, redis_batch_size=300
    )
    twelve = cluster_selector(
        redis_cluster.urls[1], index_name + "-12", examples=corpus, k=4, redis_shards=12
    )
    single = cluster_selector(redis_url, index_name, examples=corpus, k=4)
    memory = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=4)
    storage = clustered._storage
    assert isinstance(storage, ShardedRedisLshStorage)
    assert storage.cluster
    assert len(storage.shards) == 3  # one per master, one on each
    assert (
        len({redis_cluster.owner(redis_cluster.keyslot(v.prefix)).port for v in storage.shards})
        == 3
    )
    # the shards spread over the three masters (one slot each)
    twelve_storage = twelve._storage
    assert isinstance(twelve_storage, ShardedRedisLshStorage)
    owners = {
        redis_cluster.owner(redis_cluster.keyslot(v.prefix)).port for v in twelve_storage.shards
    }
    assert len(owners) == 3
    assert len(clustered) == len(single) == len(memory) == len(corpus)
    texts = [*QUERIES, corpus[77]["description"], corpus[500]["description"]]
    settings: list[dict[str, Any]] = [
        {"fallback": "none"},
        {"fallback": "probe"},
        {"fallback": "none", "rerank": "minhash"},
        {"fallback": "none", "threshold": 0.45},
    ]
    for setting in settings:
        for name, default in (("fallback", "probe"), ("rerank", "jaccard"), ("threshold", 0.0)):
            for selector in (clustered, twelve, single, memory):
                setattr(selector, name, setting.get(name, default))
        for text in texts:
            expected = memory.search({"description": text})
            assert single.search({"description": text}) == expected, (setting, text)
            assert clustered.search({"description": text}) == expected, (setting, text)
            assert twelve.search({"description": text}) == expected, (setting, text)

    async def selections() -> list[Any]:
        return await asyncio.gather(
            *(clustered.asearch({"description": text}) for text in texts * 8)
        )

    assert asyncio.run(selections()) == [memory.search({"description": t}) for t in texts * 8]
    assert clustered.ids == memory.ids
    assert clustered.examples == memory.examples
    assert clustered.audit() == {"examples": len(corpus), "problems": []}


def test_shards_are_fixed_at_creation_and_adopted(
    redis_cluster: LocalRedisCluster, index_name: str, tmp_path: Path
) -> None:
    corpus = python_api_examples()[:200]
    first = cluster_selector(redis_cluster.urls[0], index_name, examples=corpus, redis_shards=5)
    again = MinHashExampleSelector(redis_url=redis_cluster.urls[2], index_name=index_name)
    assert isinstance(again._storage, ShardedRedisLshStorage)
    assert len(again._storage.shards) == 5
    assert len(again) == 200
    with pytest.raises(IndexFormatError, match="5 shards"):
        MinHashExampleSelector(
            redis_url=redis_cluster.urls[1], index_name=index_name, redis_shards=3
        )
    # every example is in the shard of its id, and only there
    assert first.audit()["problems"] == []
    ids = first.add_examples([{"description": "Rotate a matrix by ninety degrees"}], ids=["rot"])
    assert ids == ["rot"]
    view = first._storage.shards[shard_of("rot", 5)]  # type: ignore[attr-defined]
    assert view.client.hexists(view.prefix + "id", "rot")
    first.remove_example("rot")
    assert len(again) == 200
    removed = again.remove_example(corpus[7])
    assert removed == ["7"]
    assert len(first) == 199
    assert first.audit() == {"examples": 199, "problems": []}
    # save() is for the in-memory index, as on one node; a copy in memory is built from the records
    with pytest.raises(InvalidParameterError, match="persisted by Redis itself"):
        first.save(tmp_path / "index")
    memory = MinHashExampleSelector(first.examples, ids=first.ids, input_keys=["description"])
    text = {"description": corpus[3]["description"]}
    assert memory.search(text) == first.search(text)


def test_bucket_bits_are_fixed_per_index_on_a_cluster(
    redis_cluster: LocalRedisCluster, index_name: str
) -> None:
    corpus = python_api_examples()[:200]
    first = cluster_selector(
        redis_cluster.urls[0], index_name, examples=corpus, k=4, redis_bucket_bits=12
    )
    again = MinHashExampleSelector(redis_url=redis_cluster.urls[2], index_name=index_name, k=4)
    assert again.add_examples([{"description": "Rotate a matrix by ninety degrees"}]) == ["200"]
    width = -(-(again.bands.bit_length() + 12) // 4)
    for view in again._storage.shards:  # type: ignore[attr-defined]
        names = [k[len(view.prefix) + 2 :] for k in view.client.scan_iter(view.prefix + "p:*")]
        assert names
        assert {len(n) for n in names} == {width}
    memory = MinHashExampleSelector(
        [*corpus, {"description": "Rotate a matrix by ninety degrees"}],
        input_keys=["description"],
        k=4,
    )
    for query in QUERIES:
        assert first.search({"description": query}) == memory.search({"description": query})
    assert again.audit() == {"examples": 201, "problems": []}
    with pytest.raises(IndexFormatError, match=r"has 12 bucket bits.*redis_bucket_bits=10"):
        cluster_selector(redis_cluster.urls[1], index_name, redis_bucket_bits=10)


def test_cluster_mode_can_be_forced_off_and_on(
    redis_cluster: LocalRedisCluster, redis_url: str, index_name: str
) -> None:
    # a single node told it is a cluster fails as unavailable; a cluster node
    # forced to single-node mode works for an index whose keys it serves
    with pytest.raises(StoreUnavailableError, match="Cluster mode is not enabled"):
        cluster_selector(redis_url, index_name, redis_cluster=True, redis_timeout=1.0)
    forced = cluster_selector(redis_cluster.urls[0], index_name, redis_cluster=True)
    assert forced._storage.cluster  # type: ignore[attr-defined]
    plain = cluster_selector(redis_url, index_name, redis_cluster=False)
    assert not plain._storage.cluster  # type: ignore[attr-defined]
    assert not isinstance(plain._storage, ShardedRedisLshStorage)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "langchain_niche", *args],
        cwd=cwd, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_cli_build_inspect_query_on_a_cluster(
    redis_cluster: LocalRedisCluster, index_name: str, tmp_path: Path
) -> None:
    rows = python_api_examples()[:80]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    store = ["--redis-url", redis_cluster.urls[3], "--index-name", index_name]
    built = run("build", "in.jsonl", "--input-keys", "description", *store, "--json",
                "--no-progress", cwd=tmp_path)  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["examples"] == 80
    inspect = run("inspect", *store, cwd=tmp_path)
    assert inspect.returncode == 0, inspect.stderr
    assert inspect.stdout.splitlines()[0].split() == ["examples", "80"]
    query = json.dumps({"description": rows[3]["description"]})
    hits = run("query", query, "--json", "-k", "1", *store, cwd=tmp_path)
    assert hits.returncode == 0, hits.stderr
    assert json.loads(hits.stdout)["id"] == "3"


def test_selections_stay_correct_while_a_shard_slot_migrates(
    redis_cluster: LocalRedisCluster, index_name: str
) -> None:
    corpus = python_api_examples()
    selector = cluster_selector(redis_cluster.urls[0], index_name, examples=corpus, k=4)
    storage = selector._storage
    assert isinstance(storage, ShardedRedisLshStorage)
    texts = [*QUERIES, corpus[42]["description"]]
    expected = [selector.search({"description": t}) for t in texts]
    slot = redis_cluster.keyslot(storage.shards[0].prefix)
    source = redis_cluster.owner(slot)
    dest = next(node for node in redis_cluster.masters() if node is not source)
    results: list[Any] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                results.append([selector.search({"description": t}) for t in texts])
            except Exception as exc:
                errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        # MIGRATE in about 50 batches (ASK while half moved, TRYAGAIN for a script whose
        # keys are split, MOVED after SETSLOT NODE), pausing so that reads interleave; the
        # shard holds ~15,000 postings hashes here (moved in 1.3 s), and a lookup of it waits
        # (TRYAGAIN, up to redis_timeout) for the whole move: batches of 20 took longer
        with source.client() as admin:
            keys = int(admin.cluster("countkeysinslot", slot))
        redis_cluster.migrate_slot(
            slot, dest, batch=max(20, keys // 50), between_batches=lambda: time.sleep(0.02)
        )
        time.sleep(0.2)
    finally:
        done.set()
        reader.join(timeout=30)
    assert redis_cluster.owner(slot) is dest
    assert errors == []
    assert len(results) >= 2
    assert all(result == expected for result in results)
    assert [selector.search({"description": t}) for t in texts] == expected
    assert selector.audit() == {"examples": len(corpus), "problems": []}


def test_readme_cluster_example_runs(redis_cluster: LocalRedisCluster, index_name: str) -> None:
    # the README's "Scaling out" block runs as written; only the URL and the index name change
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Scaling out (Redis Cluster)") :]
    start = section.index("```py\n") + 6
    code = section[start : section.index("```\n", start)]
    assert code.count("redis://10.0.0.5:7000") == 1
    code = code.replace("redis://10.0.0.5:7000", redis_cluster.urls[2]).replace(
        '"tickets"', repr(index_name)
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert out.getvalue().strip() == "[{'question': 'How do I reset my password?'}]"


def test_scoped_selection_on_a_cluster_equals_in_memory(
    redis_cluster: LocalRedisCluster, index_name: str
) -> None:
    """Scopes (issue 14) on a sharded cluster index: every shard partitions alike."""
    tenants = ["acme", "beta", "gamma"]
    corpus = python_api_examples()[:600]
    examples = [{**example, "tenant": tenants[i % 3]} for i, example in enumerate(corpus)]
    # banding only: the probe fallback runs per shard on a cluster and may find fewer
    # low-similarity rows than on one node (documented); scoped or not, it never leaks
    options: dict[str, Any] = {
        "input_keys": ["description"],
        "filter_keys": ["tenant"],
        "k": 4,
        "fallback": "none",
    }
    clustered = cluster_selector(redis_cluster.urls[2], index_name, examples=examples, **options)
    storage = clustered._storage
    assert isinstance(storage, ShardedRedisLshStorage)
    assert all(view.filter_keys == ("tenant",) for view in storage.shards)
    memory = MinHashExampleSelector(examples=examples, **options)
    reopened = cluster_selector(
        redis_cluster.urls[0], index_name, input_keys=["description"], fallback="none"
    )
    assert tuple(reopened.filter_keys or ()) == ("tenant",)  # adopted from the config
    for text in [*QUERIES, corpus[3]["description"], corpus[301]["description"]]:
        for tenant in tenants:
            inputs = {"description": text, "tenant": tenant}
            want = [(h.id, h.score) for h in memory.search(inputs)]
            got = clustered.search(inputs)
            assert all(hit.example["tenant"] == tenant for hit in got)
            assert [(h.id, h.score) for h in got] == want, (text, tenant)
            assert [(h.id, h.score) for h in reopened.search(inputs)] == want
    clustered.fallback = "probe"  # the probe stays inside the scope too
    for text in QUERIES:
        for tenant in tenants:
            hits = clustered.search({"description": text, "tenant": tenant})
            assert all(hit.example["tenant"] == tenant for hit in hits)

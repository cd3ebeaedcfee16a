"""An in-memory index with ``filter_keys`` salts its band keys by partition, as Redis does.

One salting implementation (:mod:`langchain_niche.minhash.encoding`) serves both
backends; a scoped selection looks up and probes only its partitions' keys, stays
in scope and never short of ``k``; the saved format is unchanged (keys saved unsalted).
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche import MinHashExampleSelector
from langchain_niche.minhash.banding import Banding
from langchain_niche.minhash.encoding import partition_salts, salted, scope_salts
from langchain_niche.minhash.memory import MemoryLshStorage
from langchain_niche.minhash.selection import select
from langchain_niche.minhash.storage import SelectionRequest
from langchain_niche.scope import Scope

VOCAB = [f"w{i}" for i in range(300)]
BANDING = Banding.for_threshold(0.5, 128, (0.5, 0.5))
values = st.one_of(st.text(max_size=5), st.integers(-3, 3), st.booleans())


def _corpus(size: int, scopes: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "q": " ".join(rng.choices(VOCAB, k=rng.randint(3, 8))),
            "tenant": f"t{i % scopes}",
            "lang": ["de", "fr"][i % 2],
        }
        for i in range(size)
    ]


def _queries(count: int, scopes: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [
        (" ".join(rng.choices(VOCAB, k=rng.randint(2, 6))), f"t{rng.randrange(scopes)}")
        for _ in range(count)
    ]


@settings(max_examples=80, deadline=None)
@given(tenant=values, lang=values, others=st.lists(values, max_size=3))
def test_an_example_salt_is_a_salt_of_every_scope_holding_it(
    tenant: Any, lang: Any, others: list[Any]
) -> None:
    """The index side (an example's partition) and the query side (a scope's) agree."""
    keys = ("lang", "tenant")
    (salt,) = partition_salts(BANDING, keys, [{"tenant": tenant, "lang": lang, "q": "x"}])
    scope = Scope.from_filter({"tenant": [tenant, *others], "lang": lang})
    got = scope_salts(BANDING, keys, scope)
    assert got is not None
    assert salt in got.tolist()
    assert len(got) == len(set(map(repr, [tenant, *others])))  # one salt per partition
    mask = ((1 << BANDING.prefix_bits) - 1) << BANDING.full_bits
    assert int(salt) & ~mask == 0  # only the prefix-hash bits: band and full hash kept
    assert scope_salts(BANDING, keys, Scope.from_filter({"tenant": tenant})) is None
    empty = scope_salts(BANDING, keys, Scope.from_filter({"tenant": [], "lang": lang}))
    assert empty is not None
    assert empty.tolist() == []
    assert scope_salts(BANDING, (), scope).tolist() == [0]  # type: ignore[union-attr]


def test_salting_keeps_band_prefix_ranges() -> None:
    """XOR with a salt maps a query's probe ranges onto the salted keys' ranges."""
    keys = BANDING.keys_of(np.arange(128, dtype=np.uint32))
    salt = partition_salts(BANDING, ("tenant",), [{"tenant": "acme"}])
    lo, hi = BANDING.prefix_range(keys)
    slo, shi = BANDING.prefix_range(salted(keys, salt))
    assert (slo == (lo ^ salt)).all()
    assert (shi - slo == hi - lo).all()
    assert partition_salts(BANDING, ("tenant",), [{"q": "no tenant"}])[0] != salt[0]


@pytest.mark.parametrize(("size", "scopes"), [(4000, 100), (3000, 3)])
def test_salted_scoped_selection_is_never_short_and_never_outside(size: int, scopes: int) -> None:
    examples = _corpus(size, scopes, seed=size)
    salted_sel = MinHashExampleSelector(
        examples=examples, input_keys=["q"], filter_keys=["tenant"], k=4
    )
    exact = MinHashExampleSelector(examples=examples, input_keys=["q"], k=4, fallback="exact")
    for query, tenant in _queries(40, scopes, seed=scopes):
        got = salted_sel.search({"q": query, "tenant": tenant})
        want = exact.search({"q": query}, filter={"tenant": tenant})
        assert all(hit.example["tenant"] == tenant for hit in got)
        assert len(got) == len(want), (query, tenant)
        # a list filter reaches several partitions: every one is looked up (a scope
        # the storage is given directly: filter_keys inputs name one value each)
        both = [tenant, "t1"]
        storage = salted_sel.storage
        assert isinstance(storage, MemoryLshStorage)
        got = select(storage, _request(storage, query, Scope.from_filter({"tenant": both})))
        want = exact.search({"q": query}, filter={"tenant": both})
        assert all(hit.example["tenant"] in both for hit in got)
        assert len(got) == len(want)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["de", "fr"]), st.integers()),
        min_size=1,
        max_size=40,
    ),
    query=st.lists(st.sampled_from(VOCAB[:12]), min_size=1, max_size=5),
    tenant=st.sampled_from(["a", "b", "c", "z"]),
    k=st.integers(1, 5),
)
def test_salted_exact_fallback_equals_the_unsalted_index(
    rows: list[tuple[str, str, int]], query: list[str], tenant: str, k: int
) -> None:
    """``fallback="exact"`` on a salted index is the exact scan of the scope."""
    examples = [
        {"tenant": t, "lang": lang, "q": " ".join(VOCAB[(seed + j) % 12] for j in range(3))}
        for t, lang, seed in rows
    ]
    options: dict[str, Any] = {"input_keys": ["q"], "k": k, "fallback": "exact"}
    salted_sel = MinHashExampleSelector(examples=examples, filter_keys=["tenant"], **options)
    plain = MinHashExampleSelector(examples=examples, **options)
    text = " ".join(query)
    got = salted_sel.search({"q": text, "tenant": tenant}, filter={"lang": "de"})
    want = plain.search({"q": text}, filter={"tenant": tenant, "lang": "de"})
    assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in want]


def _request(storage: MemoryLshStorage, text: str, scope: Scope | None) -> SelectionRequest:
    selector = MinHashExampleSelector()  # the default settings
    return SelectionRequest(
        compared=("q",),
        query=storage.encoder.query(set(text.split())),
        limit=4,
        threshold=0.0,
        lsh_threshold=selector.lsh_threshold,
        rerank="jaccard",
        fallback="probe",
        probe_limit=selector.probe_limit,
        rerank_limit=None,
        scope=scope,
    )


@pytest.mark.parametrize("scopes", [3, 100])
def test_a_scope_leaving_a_filter_key_open_reads_every_partition(scopes: int) -> None:
    """Not restricting every filter key: correct, never outside, never short of k.

    Few partitions: the query is salted for each; many: the scope's rows are scored
    directly (what an unsalted index would need too).
    """
    examples = _corpus(1500, scopes, seed=scopes)
    selector = MinHashExampleSelector(
        examples=examples, input_keys=["q"], filter_keys=["tenant", "lang"], k=4
    )
    exact = MinHashExampleSelector(examples=examples, input_keys=["q"], k=4, fallback="exact")
    storage = selector.storage
    assert isinstance(storage, MemoryLshStorage)
    for query, tenant in _queries(15, scopes, seed=1):
        for open_filter in ({"tenant": tenant}, {"lang": "de"}):
            scope = Scope.from_filter(open_filter)
            got = select(storage, _request(storage, query, scope))
            assert all(scope.matches(hit.example) for hit in got)
            assert len(got) == len(exact.search({"q": query}, filter=open_filter))
        got = select(storage, _request(storage, query, None))
        assert len(got) == len(exact.search({"q": query}))


def test_saved_file_keeps_unsalted_band_keys_and_loads_salted(tmp_path: Path) -> None:
    """The saved format does not change: a scoped index saves the keys an unscoped one saves."""
    examples = _corpus(600, 7, seed=3)
    scoped = MinHashExampleSelector(
        examples=examples, input_keys=["q"], filter_keys=["tenant"], k=3
    )
    plain = MinHashExampleSelector(examples=examples, input_keys=["q"], k=3)
    scoped.remove_example("5")  # saved compacted: rows renumbered
    plain.remove_example("5")
    a = scoped.save(tmp_path / "scoped.niche.zip")
    b = plain.save(tmp_path / "plain.niche.zip")
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        for member in ("band_keys_0.npy", "band_rows_0.npy"):
            got = np.load(io.BytesIO(za.read(member)))
            want = np.load(io.BytesIO(zb.read(member)))
            assert np.array_equal(got, want), member
    loaded = MinHashExampleSelector.load(a)
    assert loaded.filter_keys == ["tenant"]
    for query, tenant in _queries(30, 7, seed=4):
        inputs = {"q": query, "tenant": tenant}
        want_hits = [(h.id, h.score) for h in scoped.search(inputs)]
        assert [(h.id, h.score) for h in loaded.search(inputs)] == want_hits
        assert all(h.example["tenant"] == tenant for h in loaded.search(inputs))

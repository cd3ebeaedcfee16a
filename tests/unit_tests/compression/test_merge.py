"""Merging mentions into entities: keys, acronyms, partial names, blocked fuzzy matching."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_niche.compression import EntityGraph, Evidence
from langchain_niche.compression import merge as merge_module
from langchain_niche.compression.keys import name_key, property_key, type_key
from langchain_niche.compression.mentions import EntityMention, RelationMention, ValueMention
from langchain_niche.compression.merge import combine_graphs, merge_mentions


def mention(
    name: str,
    kind: str = "Company",
    *,
    aliases: tuple[str, ...] = (),
    doc: int = 0,
    chunk: int = 0,
    **properties: str,
) -> EntityMention:
    evidence = Evidence(document=doc, chunk=chunk)
    return EntityMention(
        name=name,
        type=kind,
        evidence=evidence,
        aliases=list(aliases),
        properties={k: [ValueMention(v, True, evidence)] for k, v in properties.items()},
    )


def merged(*mentions: EntityMention, **kwargs: object) -> EntityGraph:
    graph, _ = merge_mentions(list(mentions), **kwargs)  # type: ignore[arg-type]
    return graph


def groups(graph: EntityGraph) -> list[set[str]]:
    return [set(entity.names) for entity in graph.entities]


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("The Acme Robotics, Inc.", "acme robotics"),
        ("ACME ROBOTICS INC", "acme robotics"),
        ("Dr. Mira Okafor", "mira okafor"),
        ("I.B.M.", "ibm"),
        ("Müller GmbH", "muller"),
        ("Inc.", "inc"),  # a suffix alone is kept
        ("東京都", "東京都"),
        ("", ""),
    ],
)
def test_name_key(name: str, key: str) -> None:
    assert name_key(name) == key


def test_type_and_property_keys() -> None:
    assert type_key("Organisation") == type_key("company") == type_key("ORGANIZATIONS")
    assert type_key("Entity") == type_key("") == type_key("unknown") == ""
    assert type_key("Person") != type_key("Product")
    assert property_key("Date of Birth") == "date_of_birth"
    assert property_key("  revenue (USD) ") == "revenue_usd"


def test_exact_keys_merge_and_keep_every_alias() -> None:
    graph = merged(
        mention("Acme Robotics Inc.", aliases=("ACME",), founded="1998"),
        mention("acme robotics", chunk=1, headquarters="Oslo"),
        mention("The Acme Robotics", chunk=2),
        mention("Acme Robotics", "Person", chunk=3),  # another type: another entity
    )
    assert len(graph.entities) == 2
    company = graph.entities[0]
    assert company.name == "Acme Robotics Inc."
    assert company.aliases == ["ACME", "acme robotics", "The Acme Robotics"]
    assert company.values("founded") == ["1998"]
    assert company.values("headquarters") == ["Oslo"]
    assert len(company.evidence) == 3


def test_acronyms_join_the_one_matching_entity() -> None:
    graph = merged(
        mention("Northwind Applied Robotics"),
        mention("NAR", chunk=1, founded="1998"),
        mention("N.A.R.", chunk=2),
        mention("World Health Organization", "Organization"),
        mention("WHO", "Organization", chunk=3),
    )
    assert groups(graph) == [
        {"Northwind Applied Robotics", "NAR", "N.A.R."},
        {"World Health Organization", "WHO"},
    ]


def test_ambiguous_acronyms_are_not_merged() -> None:
    graph = merged(mention("Alpha Partners"), mention("Acme Plastics"), mention("AP", chunk=1))
    assert len(graph.entities) == 3


def test_partial_names_merge_only_when_unique() -> None:
    graph = merged(
        mention("Mira Okafor", "Person"),
        mention("Okafor", "Person", chunk=1, born="1971"),
        mention("Dr. Okafor", "Person", chunk=2),
        mention("John Smith", "Person"),
        mention("Jane Smith", "Person"),
        mention("Smith", "Person", chunk=3),
    )
    assert {"Mira Okafor", "Okafor", "Dr. Okafor"} in groups(graph)
    assert {"Smith"} in groups(graph), "ambiguous between John and Jane Smith"
    assert len(graph.entities) == 4


def test_partial_names_are_not_used_for_places_by_default() -> None:
    graph = merged(mention("Paris", "Place"), mention("Paris Airport", "Place"))
    assert len(graph.entities) == 2
    graph = merged(
        mention("Paris", "Place"), mention("Paris Airport", "Place"), partial_name_types=None
    )
    assert len(graph.entities) == 1


def test_fuzzy_matching_within_type_and_digits() -> None:
    graph = merged(
        mention("Northwind Robotics Systems"),
        mention("Northwind Robotic Systems", chunk=1),
        mention("Helios Model X1", "Product"),
        mention("Helios Model X2", "Product"),
        mention("Northwind Robotics Systems", "Product"),
    )
    assert groups(graph) == [
        {"Northwind Robotics Systems", "Northwind Robotic Systems"},
        {"Helios Model X1"},
        {"Helios Model X2"},
        {"Northwind Robotics Systems"},
    ]
    assert (
        len(
            merged(
                mention("Northwind Robotics"), mention("Northwind Robotic"), fuzzy_threshold=1.0
            ).entities
        )
        == 2
    )


def test_untyped_mentions_join_a_unique_typed_entity() -> None:
    graph = merged(
        mention("Acme Robotics", "Company"),
        mention("acme robotics", "", chunk=1, ticker="ACMR"),
        mention("Jordan", "Person"),
        mention("Jordan", "Country"),
        mention("Jordan", "entity"),
    )
    assert graph.entities[0].values("ticker") == ["ACMR"]
    assert graph.entities[0].type == "Company"
    assert len(graph.entities) == 4  # the untyped Jordan is ambiguous: kept apart


def test_conflicting_values_are_all_kept_with_evidence() -> None:
    graph = merged(
        mention("Acme", revenue="$12.5 million", doc=0),
        mention("ACME", revenue="$13.1 million", doc=1),
        mention("Acme", revenue="$12.5 million", doc=2, chunk=4),
    )
    (acme,) = graph.entities
    assert acme.conflicts == {"revenue": ["$12.5 million", "$13.1 million"]}
    first, second = acme.properties["revenue"]
    assert [(e.document, e.chunk) for e in first.evidence] == [(0, 0), (2, 4)]
    assert [e.document for e in second.evidence] == [1]


def test_relations_resolve_by_name_alias_and_acronym() -> None:
    people = mention("Mira Okafor", "Person", chunk=0)
    company = mention("Northwind Applied Robotics", aliases=("Northwind",), chunk=0)
    relations = [
        RelationMention("Mira Okafor", "Works For", "Northwind", Evidence(document=0, chunk=0)),
        RelationMention("Okafor", "works_for", "NAR", Evidence(document=0, chunk=5)),
        RelationMention("Nobody", "knows", "NAR", Evidence(document=0, chunk=5)),
    ]
    graph, unresolved = merge_mentions([people, company], relations)
    (relation,) = graph.relations
    assert relation.relation == "works_for"
    assert [(e.chunk) for e in relation.evidence] == [0, 5]  # "Okafor": partial, unique
    assert [r.source for r in unresolved] == ["Nobody"]


def test_ids_are_stable_and_unique() -> None:
    graph = merged(mention("Acme"), mention("Acme", "Person"), mention("ACME!", "Person", chunk=1))
    assert [e.id for e in graph.entities] == ["company:acme", "person:acme"]


def test_merging_is_blocked_not_all_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[str, str]] = []
    original = merge_module._fuzzy_equal

    def counting(a: str, b: str, threshold: float) -> bool:
        compared.append((a, b))
        return original(a, b, threshold)

    monkeypatch.setattr(merge_module, "_fuzzy_equal", counting)
    # 2,000 distinct names that all share a common word: that block is too large to decide
    # anything and is skipped; only names sharing a rarer word or prefix are compared.
    many = [mention(f"Holding {word}{i}") for i, word in enumerate(["Zed", "Quill"] * 1000)]
    graph = merged(*many, mention("Holding Zedd0", chunk=1))
    assert len(compared) < 2000 * 64, "not all pairs (2 million)"
    assert len(graph.entities) == 2000  # "Holding Zedd0" is a typo of "Holding Zed0"


def test_combine_graphs_unites_by_id() -> None:
    a = merged(mention("Acme", revenue="$1"), mention("Okafor", "Person"))
    b = merged(mention("Acme", aliases=("ACME Corp",), revenue="$2", doc=1))
    combined = combine_graphs([a, b])
    assert [e.id for e in combined.entities] == ["company:acme", "person:okafor"]
    assert combined.entities[0].values("revenue") == ["$1", "$2"]
    assert combined.entities[0].aliases == ["ACME Corp"]


names = st.sampled_from(
    [
        "Acme",
        "ACME",
        "Acme Inc.",
        "Acme Robotics",
        "Okafor",
        "Mira Okafor",
        "NAR",
        "Northwind",
        "Northwind Applied Robotics",
        "Helios X7",
        "Helios X8",
        "東京",
        "Müller",
        "Muller",
        "WHO",
    ]
)
kinds = st.sampled_from(["Company", "Person", "Product", ""])
values = st.sampled_from(["1998", "Oslo", "$12.5 million", "EMP-1", "12 March 1971"])
mentions_strategy = st.lists(
    st.builds(
        lambda name, kind, aliases, prop, value, chunk: mention(
            name, kind, aliases=tuple(aliases), chunk=chunk, **{prop: value}
        ),
        names,
        kinds,
        st.lists(names, max_size=2),
        st.sampled_from(["founded", "headquarters", "revenue", "id"]),
        values,
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=25,
)


def owner_of(graph: EntityGraph, index: int) -> str:
    """The id of the entity holding mention ``index`` (each test mention has its own chunk)."""
    (owner,) = [e.id for e in graph.entities if any(ev.chunk == index for ev in e.evidence)]
    return owner


@given(mentions_strategy)
@settings(max_examples=100, deadline=None)
def test_merging_invariants(mentions: list[EntityMention]) -> None:
    for i, m in enumerate(mentions):  # one chunk per mention: evidence identifies it
        m.evidence = Evidence(document=0, chunk=i)
        for items in m.properties.values():
            items[0].evidence = m.evidence
    graph = merged(*mentions)
    by_id = graph.by_id()
    assert 1 <= len(graph.entities) <= len(mentions)
    assert len(by_id) == len(graph.entities)
    for i, m in enumerate(mentions):
        owner = by_id[owner_of(graph, i)]  # exactly one entity holds each mention
        owner_keys = {name_key(n) for n in owner.names}
        for surface in (m.name, *m.aliases):
            assert name_key(surface) in owner_keys, "every name and alias is kept"
        for key, items in m.properties.items():
            assert items[0].value in owner.values(key), "every value is kept"
            kept = next(v for v in owner.properties[key] if v.value == items[0].value)
            assert m.evidence in kept.evidence, "with its evidence"
    # Mentions of one type sharing a name key are always one entity.
    for i, a in enumerate(mentions):
        for j, b in enumerate(mentions):
            same_type = type_key(a.type) and type_key(a.type) == type_key(b.type)
            if same_type and name_key(a.name) == name_key(b.name):
                assert owner_of(graph, i) == owner_of(graph, j)


@given(mentions_strategy, st.randoms())
@settings(max_examples=60, deadline=None)
def test_merging_partition_does_not_depend_on_order_for_exact_keys(
    mentions: list[EntityMention], rnd: object
) -> None:
    typed = [m for m in mentions if type_key(m.type)]
    shuffled = list(typed)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]

    def partition(ms: list[EntityMention]) -> set[frozenset[str]]:
        return (
            {
                frozenset(name_key(n) for n in e.names)
                for e in merged(*ms, fuzzy_threshold=1.0, partial_name_types=[]).entities
            }
            if ms
            else set()
        )

    assert partition(typed) == partition(shuffled)


def test_an_acronym_of_its_own_name_never_joins_another_entity() -> None:
    graph = merged(
        mention("Alpha Beta Consulting", aliases=("ABC",)),
        mention("Apex Bravo Capital"),
    )
    assert len(graph.entities) == 2


def test_initials_and_titles_join_the_full_name() -> None:
    people = [
        mention("Dupi Vaenfi", "Person"),
        mention("D. Vaenfi", "Person", chunk=1),
        mention("Vaenfi", "Person", chunk=2),
        mention("Dr. Vaenfi", "Person", chunk=3),
    ]
    assert groups(merged(*people)) == [{"Dupi Vaenfi", "D. Vaenfi", "Vaenfi", "Dr. Vaenfi"}]
    # Another Vaenfi: "D. Vaenfi" still joins Dupi, but a bare "Vaenfi" is ambiguous.
    graph = merged(*people, mention("K. Vaenfi", "Person", chunk=4))
    assert groups(graph) == [{"Dupi Vaenfi", "D. Vaenfi"}, {"Vaenfi", "Dr. Vaenfi"}, {"K. Vaenfi"}]


def test_the_garbage_collector_is_restored_after_merging() -> None:
    assert gc.isenabled()
    merged(mention("Acme"), mention("ACME"))
    assert gc.isenabled()
    gc.disable()
    try:
        merged(mention("Acme"))
        assert not gc.isenabled(), "a collector the caller disabled stays disabled"
    finally:
        gc.enable()

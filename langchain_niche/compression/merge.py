"""Merge entity mentions from many chunks and documents into one entity graph.

Mentions are merged in passes, each cheaper than comparing all pairs:

1. **Exact keys.** Every name and alias is reduced to a key (case, accents,
   punctuation, leading articles and honorifics, company suffixes such as
   "Inc." or "GmbH" removed; ``I.B.M.`` becomes ``ibm``). Mentions of
   compatible types sharing a key are one entity (a hash join, linear time).
2. **Acronyms.** An all-caps name (``NAR``) joins the one entity of the same
   type whose multi-word name has those initials; if several do, nothing is merged.
3. **Partial names** (people and organizations by default). A name whose
   words are all part of exactly one longer name of the same type (``Okafor``
   in ``Mira Okafor``) joins it; ambiguous ones (``Smith`` with ``John Smith``
   and ``Jane Smith``) stay apart.
4. **Fuzzy matching**, blocked: only entities of the same type that share a
   word or a 4-letter prefix are compared (blocks larger than ``max_block``
   are skipped), with a character similarity of at least ``fuzzy_threshold``
   and identical digits (``Model X1`` never merges with ``Model X2``).
5. **Untyped mentions** (type empty, "entity", "unknown", ...) join the single
   typed entity sharing one of their keys, when there is exactly one.

Every alias is kept; property values are united per property, and differing
values are all kept, each with its evidence.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from langchain_niche.compression.graph import (
    Entity,
    EntityGraph,
    Evidence,
    PropertyValue,
    Relation,
)
from langchain_niche.compression.grounding import normalize_text
from langchain_niche.compression.keys import (
    acronym_query,
    acronyms,
    name_key,
    property_key,
    slug,
    type_key,
)
from langchain_niche.compression.mentions import EntityMention, RelationMention

__all__ = ["combine_graphs", "merge_mentions"]

DEFAULT_FUZZY_THRESHOLD = 0.92
DEFAULT_MAX_BLOCK = 64
PARTIAL_NAME_TYPES = ("person", "organization")

_DIGITS_RE = re.compile(r"\d+")
_MIN_FUZZY_CHARS = 5
_MIN_PARTIAL_CHARS = 3


# -- union-find ----------------------------------------------------------------------------
class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The earlier mention stays the root: results do not depend on visiting order.
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


@dataclass
class _Cluster:
    type: str
    keys: set[str] = field(default_factory=set)
    surfaces: list[str] = field(default_factory=list)


def _fuzzy_equal(a: str, b: str, threshold: float) -> bool:
    if min(len(a), len(b)) < _MIN_FUZZY_CHARS:
        return False
    if 2 * min(len(a), len(b)) / (len(a) + len(b)) < threshold:
        return False
    if _DIGITS_RE.findall(a) != _DIGITS_RE.findall(b):
        return False
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold


class _Merger:
    def __init__(
        self,
        mentions: Sequence[EntityMention],
        fuzzy_threshold: float,
        max_block: int,
        partial_types: frozenset[str] | None,
    ) -> None:
        self.mentions = mentions
        self.fuzzy_threshold = fuzzy_threshold
        self.max_block = max_block
        self.partial_types = partial_types
        self.uf = _UnionFind(len(mentions))
        self.types = [type_key(m.type) for m in mentions]
        self.keys = [
            [key for key in (name_key(s) for s in (m.name, *m.aliases)) if key] for m in mentions
        ]

    def clusters(self) -> dict[int, _Cluster]:
        out: dict[int, _Cluster] = {}
        for i, mention in enumerate(self.mentions):
            root = self.uf.find(i)
            cluster = out.get(root)
            if cluster is None:
                cluster = out[root] = _Cluster(type=self.types[root])
            cluster.keys.update(self.keys[i])
            cluster.surfaces.append(mention.name)
            cluster.surfaces.extend(mention.aliases)
        return out

    def exact(self) -> None:
        first: dict[tuple[str, str], int] = {}
        for i, keys in enumerate(self.keys):
            for key in keys:
                j = first.setdefault((self.types[i], key), i)
                if j != i:
                    self.uf.union(i, j)

    def _union_unique(self, root: int, candidates: Iterable[int]) -> None:
        roots = {self.uf.find(c) for c in candidates} - {self.uf.find(root)}
        if len(roots) == 1:
            self.uf.union(root, roots.pop())

    def acronyms(self) -> None:
        clusters = self.clusters()
        index: dict[tuple[str, str], set[int]] = defaultdict(set)
        for root, cluster in clusters.items():
            if cluster.type:
                for key in cluster.keys:
                    for acronym in acronyms(key):
                        index[cluster.type, acronym].add(root)
        for root, cluster in clusters.items():
            if not cluster.type:
                continue
            for surface in cluster.surfaces:
                query = acronym_query(surface)
                if query and (cluster.type, query) in index:
                    self._union_unique(root, index[cluster.type, query])

    def partial_names(self) -> None:
        clusters = self.clusters()
        postings: dict[tuple[str, str], set[int]] = defaultdict(set)
        token_sets: dict[int, list[frozenset[str]]] = {}
        for root, cluster in clusters.items():
            if not cluster.type or (
                self.partial_types is not None and cluster.type not in self.partial_types
            ):
                continue
            token_sets[root] = [frozenset(key.split()) for key in cluster.keys]
            for tokens in token_sets[root]:
                for token in tokens:
                    postings[cluster.type, token].add(root)
        for root, sets in token_sets.items():
            kind = clusters[root].type
            longest = max((len(tokens) for tokens in sets), default=0)
            for tokens in sets:
                if len(tokens) != longest or not any(
                    len(token) >= _MIN_PARTIAL_CHARS or token.isdigit() for token in tokens
                ):
                    continue
                lists = sorted((postings[kind, token] for token in tokens), key=len)
                if len(lists[0]) > self.max_block:
                    continue
                supersets = [
                    other
                    for other in lists[0].intersection(*lists[1:])
                    if other != root
                    and any(tokens < other_tokens for other_tokens in token_sets[other])
                ]
                if supersets:
                    self._union_unique(root, supersets)

    def fuzzy(self) -> None:
        if self.fuzzy_threshold >= 1.0:
            return
        clusters = self.clusters()
        blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
        for root, cluster in clusters.items():
            if not cluster.type:
                continue
            block_keys = {f"p:{key[:4]}" for key in cluster.keys}
            block_keys.update(t for key in cluster.keys for t in key.split() if len(t) >= 3)
            for block in block_keys:
                blocks[cluster.type, block].append(root)
        compared: set[tuple[int, int]] = set()
        for members in blocks.values():
            if len(members) < 2 or len(members) > self.max_block:
                continue
            for x, a in enumerate(members):
                for b in members[x + 1 :]:
                    pair = (a, b) if a < b else (b, a)
                    if pair in compared:
                        continue
                    compared.add(pair)
                    if self.uf.find(a) == self.uf.find(b):
                        continue
                    if any(
                        _fuzzy_equal(ka, kb, self.fuzzy_threshold)
                        for ka in clusters[a].keys
                        for kb in clusters[b].keys
                    ):
                        self.uf.union(a, b)

    def untyped(self) -> None:
        clusters = self.clusters()
        typed: dict[str, set[int]] = defaultdict(set)
        for root, cluster in clusters.items():
            if cluster.type:
                for key in cluster.keys:
                    typed[key].add(root)
        for root, cluster in clusters.items():
            if cluster.type:
                continue
            candidates = {c for key in cluster.keys for c in typed.get(key, ())}
            if candidates:
                self._union_unique(root, candidates)

    def groups(self) -> list[list[int]]:
        members: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.mentions)):
            members[self.uf.find(i)].append(i)
        return sorted(members.values(), key=lambda group: group[0])


# -- building the graph ------------------------------------------------------------------
def _dedupe(items: Iterable[Evidence]) -> list[Evidence]:
    return list(dict.fromkeys(items))


def _value_key(value: str) -> str:
    return normalize_text(value).strip(" .,;:")


def _canonical_name(mentions: list[EntityMention]) -> str:
    counts = Counter(normalize_text(m.name) for m in mentions)
    best = min(
        range(len(mentions)),
        key=lambda i: (
            -len(name_key(mentions[i].name).split()),
            -counts[normalize_text(mentions[i].name)],
            -len(mentions[i].name),
            i,
        ),
    )
    return mentions[best].name.strip()


def _entity_type(mentions: list[EntityMention]) -> str:
    typed = [m.type.strip() for m in mentions if type_key(m.type)]
    if not typed:
        return mentions[0].type.strip()
    counts = Counter(typed)
    return max(typed, key=lambda t: (counts[t], -typed.index(t)))


def _merge_properties(mentions: list[EntityMention]) -> dict[str, list[PropertyValue]]:
    merged: dict[str, dict[str, PropertyValue]] = {}
    for mention in mentions:
        for key, values in mention.properties.items():
            slot = merged.setdefault(key, {})
            for item in values:
                vkey = _value_key(item.value)
                existing = slot.get(vkey)
                if existing is None:
                    slot[vkey] = PropertyValue(
                        value=item.value, grounded=item.grounded, evidence=[item.evidence]
                    )
                    continue
                if item.evidence not in existing.evidence:
                    existing.evidence.append(item.evidence)
                if item.grounded and not existing.grounded:
                    existing.grounded = True
                    existing.value = item.value  # prefer the verbatim (grounded) spelling
    return {key: list(slot.values()) for key, slot in merged.items() if slot}


def _build_entity(mentions: list[EntityMention], taken: set[str]) -> Entity:
    name = _canonical_name(mentions)
    entity_type = _entity_type(mentions)
    seen = {normalize_text(name)}
    aliases = []
    for mention in mentions:
        for raw in (mention.name, *mention.aliases):
            surface = raw.strip()
            norm = normalize_text(surface)
            if norm and norm not in seen:
                seen.add(norm)
                aliases.append(surface)
    base = f"{slug(entity_type or 'entity')}:{slug(name)}"
    entity_id, n = base, 1
    while entity_id in taken:
        n += 1
        entity_id = f"{base}-{n}"
    taken.add(entity_id)
    return Entity(
        id=entity_id,
        name=name,
        type=entity_type,
        aliases=aliases,
        properties=_merge_properties(mentions),
        evidence=_dedupe(m.evidence for m in mentions),
    )


class _Resolver:
    """Resolves relation endpoint names to entity ids (same chunk first, then globally)."""

    def __init__(self, entities: list[Entity], groups: list[list[int]], merger: _Merger) -> None:
        self.local: dict[tuple[int, int, str], str] = {}
        self.anywhere: dict[str, set[str]] = defaultdict(set)
        self.acronym: dict[str, set[str]] = defaultdict(set)
        for entity, group in zip(entities, groups, strict=True):
            for i in group:
                ev = merger.mentions[i].evidence
                for key in merger.keys[i]:
                    self.local.setdefault((ev.document, ev.chunk, key), entity.id)
                    self.anywhere[key].add(entity.id)
                    for acronym in acronyms(key):
                        self.acronym[acronym].add(entity.id)

    def resolve(self, name: str, evidence: Evidence) -> str | None:
        key = name_key(name)
        if not key:
            return None
        local = self.local.get((evidence.document, evidence.chunk, key))
        if local is not None:
            return local
        candidates = self.anywhere.get(key) or set()
        if not candidates:
            query = acronym_query(name.strip())
            candidates = self.acronym.get(query, set()) if query else set()
        return next(iter(candidates)) if len(candidates) == 1 else None


def merge_mentions(
    mentions: Sequence[EntityMention],
    relations: Sequence[RelationMention] = (),
    *,
    fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD,
    max_block: int = DEFAULT_MAX_BLOCK,
    partial_name_types: Iterable[str] | None = PARTIAL_NAME_TYPES,
) -> tuple[EntityGraph, list[RelationMention]]:
    """Merge entity and relation mentions into one graph.

    Args:
        mentions: Entity mentions in document/chunk order.
        relations: Relation mentions; endpoints are resolved by name (within the
            same chunk first, then across the graph when unambiguous).
        fuzzy_threshold: Minimum character similarity (``difflib`` ratio) for the
            fuzzy pass; ``1.0`` disables it.
        max_block: Blocks (entities sharing a word or prefix) larger than this are
            not compared pairwise (their word is too common to decide anything).
        partial_name_types: Types whose partial names (``Okafor`` for ``Mira
            Okafor``) are merged into the one full name containing them; default
            people and organizations (``None``: every type). Places are left out
            on purpose: ``Paris`` is not ``Paris Airport``.

    Returns:
        The graph (entities in order of first mention) and the relation mentions
        whose endpoints could not be resolved.
    """
    partial = None if partial_name_types is None else frozenset(map(type_key, partial_name_types))
    merger = _Merger(mentions, fuzzy_threshold, max_block, partial)
    merger.exact()
    merger.acronyms()
    merger.partial_names()
    merger.fuzzy()
    merger.untyped()
    groups = merger.groups()
    taken: set[str] = set()
    entities = [_build_entity([mentions[i] for i in group], taken) for group in groups]

    resolver = _Resolver(entities, groups, merger)
    merged: dict[tuple[str, str, str], Relation] = {}
    unresolved = []
    for mention in relations:
        source = resolver.resolve(mention.source, mention.evidence)
        target = resolver.resolve(mention.target, mention.evidence)
        relation = property_key(mention.relation)
        if source is None or target is None or not relation or source == target:
            unresolved.append(mention)
            continue
        key = (source, relation, target)
        existing = merged.get(key)
        if existing is None:
            merged[key] = Relation(
                source=source, relation=relation, target=target, evidence=[mention.evidence]
            )
        elif mention.evidence not in existing.evidence:
            existing.evidence.append(mention.evidence)
    return EntityGraph(entities=entities, relations=list(merged.values())), unresolved


def combine_graphs(graphs: Sequence[EntityGraph]) -> EntityGraph:
    """Unite graphs whose entities share ids (as produced from one batch).

    Args:
        graphs: Graphs, e.g. rebuilt from the metadata of compressed documents.

    Returns:
        One graph: entities with the same id have their aliases, property values
        and evidence united.
    """
    entities: dict[str, Entity] = {}
    relations: dict[tuple[str, str, str], Relation] = {}
    for graph in graphs:
        for entity in graph.entities:
            current = entities.get(entity.id)
            if current is None:
                entities[entity.id] = entity.model_copy(deep=True)
                continue
            names = {normalize_text(n) for n in current.names}
            current.aliases.extend(a for a in entity.names if normalize_text(a) not in names)
            current.evidence = _dedupe([*current.evidence, *entity.evidence])
            for key, items in entity.properties.items():
                slot = {_value_key(v.value): v for v in current.properties.setdefault(key, [])}
                for item in items:
                    existing = slot.get(_value_key(item.value))
                    if existing is None:
                        current.properties[key].append(item.model_copy(deep=True))
                    else:
                        existing.evidence = _dedupe([*existing.evidence, *item.evidence])
        for relation in graph.relations:
            triple = (relation.source, relation.relation, relation.target)
            if triple in relations:
                known = relations[triple]
                known.evidence = _dedupe([*known.evidence, *relation.evidence])
            else:
                relations[triple] = relation.model_copy(deep=True)
    return EntityGraph(entities=list(entities.values()), relations=list(relations.values()))

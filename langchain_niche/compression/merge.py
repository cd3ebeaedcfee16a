"""Merge entity mentions from many chunks and documents into one entity graph.

Mentions are merged in passes, each cheaper than comparing all pairs:

1. **Exact keys.** Every name and alias is reduced to a key (case, accents,
   punctuation, leading articles and honorifics, company suffixes such as
   "Inc." or "GmbH" removed; ``I.B.M.`` becomes ``ibm``). Mentions of
   compatible types sharing a key are one entity (a hash join, linear time).
2. **Fuzzy matching**, blocked: only entities of the same type that share a
   word or a 4-letter prefix (blocks larger than ``max_block`` are skipped), or
   that sort next to each other by name or by reversed name (sorted
   neighbourhood), are compared: a character similarity of at least
   ``fuzzy_threshold`` and identical digits (``Model X1`` never merges with
   ``Model X2``) make them one entity.
3. **Acronyms.** An all-caps name (``NAR``) joins the one entity of the same
   type whose multi-word name has those initials; if several do, or if they are
   the initials of its own name, nothing is merged.
4. **Partial names** (people and organizations by default). A name whose
   words (or initials) all belong to exactly one longer name of the same type
   (``Okafor``, ``M. Okafor`` and ``Mira Okafor``) joins it; ambiguous ones
   (``Smith`` with ``John Smith`` and ``Jane Smith``) stay apart.
5. **Untyped mentions** (type empty, "entity", "unknown", ...) join the single
   typed entity sharing one of their keys, when there is exactly one.

Every alias is kept; property values are united per property, and differing
values are all kept, each with its evidence.
"""

from __future__ import annotations

import gc
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

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
_WINDOW = 4  # sorted-neighbourhood window
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
    surfaces: set[str] = field(default_factory=set)


@lru_cache(maxsize=1 << 16)
def _digits(key: str) -> tuple[str, ...]:
    return tuple(_DIGITS_RE.findall(key))


@lru_cache(maxsize=1 << 16)
def _bigrams(key: str) -> frozenset[str]:
    return frozenset(key[i : i + 2] for i in range(len(key) - 1))


def _fuzzy_equal(a: str, b: str, threshold: float) -> bool:
    if min(len(a), len(b)) < _MIN_FUZZY_CHARS:
        return False
    if 2 * min(len(a), len(b)) / (len(a) + len(b)) < threshold:
        return False
    if _digits(a) != _digits(b):
        return False
    # Cheap filter: a few character edits leave most bigrams shared (each edit breaks at
    # most two); unrelated names share few. Only close pairs reach SequenceMatcher.
    ga, gb = _bigrams(a), _bigrams(b)
    if 2 * len(ga & gb) / (len(ga) + len(gb)) < 1 - 5 * (1 - threshold):
        return False
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= threshold and matcher.ratio() >= threshold


def _abbreviates(short: frozenset[str], long: frozenset[str]) -> bool:
    """Whether ``short`` names the same thing as ``long`` with fewer words or initials.

    ``{"okafor"}`` and ``{"m", "okafor"}`` both abbreviate ``{"mira", "okafor"}``.
    """
    full = {word for word in short if len(word) > 1}
    if not full < long:
        return False
    rest = sorted(long - full)
    for initial in (word for word in short if len(word) == 1):
        match = next((word for word in rest if word[0] == initial), None)
        if match is None:
            return False
        rest.remove(match)
    return True


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
        self.name_keys = [name_key(m.name) for m in mentions]
        self.keys = [
            [key for key in (name, *map(name_key, m.aliases)) if key]
            for name, m in zip(self.name_keys, mentions, strict=True)
        ]
        self._clusters: dict[int, _Cluster] | None = None

    def clusters(self) -> dict[int, _Cluster]:
        """The clusters formed by the exact pass (the later passes join whole clusters)."""
        if self._clusters is not None:
            return self._clusters
        out: dict[int, _Cluster] = {}
        for i, mention in enumerate(self.mentions):
            root = self.uf.find(i)
            cluster = out.get(root)
            if cluster is None:
                cluster = out[root] = _Cluster(type=self.types[root])
            cluster.keys.update(self.keys[i])
            cluster.surfaces.add(mention.name)
            cluster.surfaces.update(mention.aliases)
        self._clusters = out
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

    def _acronym_queries(self, clusters: dict[int, _Cluster]) -> dict[tuple[str, str], list[int]]:
        """(type, letters) of every all-caps name, with the clusters using it."""
        queries: dict[tuple[str, str], list[int]] = defaultdict(list)
        for root, cluster in clusters.items():
            if cluster.type:
                for query in filter(None, map(acronym_query, cluster.surfaces)):
                    queries[cluster.type, query].append(root)
        return queries

    def acronyms(self) -> None:
        clusters = self.clusters()
        queries = self._acronym_queries(clusters)
        if not queries:
            return
        index: dict[tuple[str, str], set[int]] = defaultdict(set)
        for root, cluster in clusters.items():
            for key in cluster.keys if cluster.type else ():
                for acronym in acronyms(key):
                    if (cluster.type, acronym) in queries:
                        index[cluster.type, acronym].add(root)
        for slot, roots in queries.items():
            for root in roots:
                owners = {self.uf.find(c) for c in index.get(slot, ())}
                if self.uf.find(root) not in owners:  # not the initials of its own name
                    self._union_unique(root, owners)

    def _partial_candidates(self) -> list[tuple[int, frozenset[str]]]:
        """(cluster, its most complete name's words) for clusters of the partial-name types."""
        out: list[tuple[int, frozenset[str]]] = []
        for root, cluster in self.clusters().items():
            if not cluster.type or (
                self.partial_types is not None and cluster.type not in self.partial_types
            ):
                continue
            sets = [frozenset(key.split()) for key in cluster.keys]
            longest = max(map(len, sets), default=0)
            out.extend((root, words) for words in sets if len(words) == longest)
        return out

    def partial_names(self) -> None:
        clusters = self.clusters()
        candidates = self._partial_candidates()
        postings: dict[tuple[str, str], set[int]] = defaultdict(set)
        names: dict[int, list[frozenset[str]]] = defaultdict(list)
        for root, words in candidates:
            names[root].append(words)
            for word in words:
                postings[clusters[root].type, word].add(root)
        # Most complete names first: "D. Vaenfi" joins "Dupi Vaenfi" before "Vaenfi" is
        # matched, so "Vaenfi" is not ambiguous between them.
        for root, words in sorted(candidates, key=lambda item: (-len(item[1]), item[0])):
            full = [word for word in words if len(word) > 1]
            if not any(len(word) >= _MIN_PARTIAL_CHARS or word.isdigit() for word in full):
                continue
            kind = clusters[root].type
            lists = sorted((postings[kind, word] for word in full), key=len)
            if len(lists[0]) > self.max_block:
                continue
            longer = [
                other
                for other in lists[0].intersection(*lists[1:])
                if other != root
                and any(_abbreviates(words, other_words) for other_words in names[other])
            ]
            if longer:
                self._union_unique(root, longer)

    def _fuzzy_candidates(self, clusters: dict[int, _Cluster]) -> set[tuple[str, int, str, int]]:
        """Pairs of names worth comparing: shared blocks, and sorted neighbours."""
        blocks: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        by_type: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for root, cluster in clusters.items():
            if not cluster.type:
                continue
            for key in cluster.keys:
                entry = (key, root)
                by_type[cluster.type].append(entry)
                blocks[cluster.type, f"p:{key[:4]}"].append(entry)
                for token in set(key.split()):
                    if len(token) >= 3:
                        blocks[cluster.type, token].append(entry)
        pairs: set[tuple[str, int, str, int]] = set()
        for members in blocks.values():
            if 2 <= len(members) <= self.max_block:
                pairs.update(
                    (*a, *b)
                    for x, a in enumerate(members)
                    for b in members[x + 1 :]
                    if a[1] != b[1]
                )
        # Sorted neighbourhood, on names and on reversed names: a typo anywhere in a name
        # leaves it next to the right name in one of the two orders, even in large blocks.
        for items in by_type.values():
            for order in (sorted(items), sorted(items, key=lambda item: item[0][::-1])):
                for x, a in enumerate(order):
                    pairs.update((*a, *b) for b in order[x + 1 : x + 1 + _WINDOW] if a[1] != b[1])
        return pairs

    def fuzzy(self) -> None:
        if self.fuzzy_threshold >= 1.0:
            return
        find = self.uf.find
        for key_a, a, key_b, b in sorted(self._fuzzy_candidates(self.clusters())):
            if find(a) != find(b) and _fuzzy_equal(key_a, key_b, self.fuzzy_threshold):
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


@lru_cache(maxsize=1 << 16)
def _value_key(value: str) -> str:
    return normalize_text(value).strip(" .,;:")


def _canonical_name(mentions: list[EntityMention]) -> str:
    spellings = Counter(m.name.strip() for m in mentions)
    normalized = Counter()  # type: Counter[str]
    for spelling, count in spellings.items():
        normalized[normalize_text(spelling)] += count
    order = {spelling: i for i, spelling in enumerate(spellings)}
    return min(
        spellings,
        key=lambda n: (
            -len(name_key(n).split()),
            n.isupper(),  # "ACME ROBOTICS" only when no other spelling exists
            -normalized[normalize_text(n)],
            -len(n),
            order[n],
        ),
    )


def _entity_type(mentions: list[EntityMention]) -> str:
    typed = [m.type.strip() for m in mentions if type_key(m.type)]
    if not typed:
        return mentions[0].type.strip()
    counts = Counter(typed)
    return max(counts, key=lambda t: (counts[t], -typed.index(t)))


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
    surfaces = dict.fromkeys(raw.strip() for m in mentions for raw in (m.name, *m.aliases))
    for surface in surfaces:
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
    """Resolves relation endpoint names to entity ids.

    In order: a name used by an entity of the same chunk; a name, alias or
    acronym of exactly one entity; a partial name of exactly one entity.
    """

    def __init__(self, entities: list[Entity], groups: list[list[int]], merger: _Merger) -> None:
        self.local: dict[tuple[int, int, str], str] = {}
        self.anywhere: dict[str, set[str]] = defaultdict(set)
        self.acronym: dict[str, set[str]] = defaultdict(set)
        self.tokens: dict[str, set[str]] = defaultdict(set)
        for entity, group in zip(entities, groups, strict=True):
            keys: set[str] = set()
            for i in group:
                ev = merger.mentions[i].evidence
                for key in merger.keys[i]:
                    self.local.setdefault((ev.document, ev.chunk, key), entity.id)
                keys.update(merger.keys[i])
            for key in keys:
                self.anywhere[key].add(entity.id)
                for acronym in acronyms(key):
                    self.acronym[acronym].add(entity.id)
                for token in key.split():
                    self.tokens[token].add(entity.id)

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
        if not candidates:
            postings = [self.tokens.get(token, set()) for token in key.split()]
            candidates = set.intersection(*postings) if postings else set()
        return next(iter(candidates)) if len(candidates) == 1 else None


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while merging (nesting- and thread-safe).

    Merging allocates many small objects but creates no reference cycles; with the
    collector running, its repeated passes over them took about 40% of the time
    for 10,000 mentions. Reference counting still frees everything as usual.
    """
    global _gc_pauses, _gc_was_enabled  # noqa: PLW0603 - process-wide collector state
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


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
    with _gc_paused():
        return _merge(mentions, relations, fuzzy_threshold, max_block, partial_name_types)


def _merge(
    mentions: Sequence[EntityMention],
    relations: Sequence[RelationMention],
    fuzzy_threshold: float,
    max_block: int,
    partial_name_types: Iterable[str] | None,
) -> tuple[EntityGraph, list[RelationMention]]:
    partial = None if partial_name_types is None else frozenset(map(type_key, partial_name_types))
    merger = _Merger(mentions, fuzzy_threshold, max_block, partial)
    merger.exact()
    merger.fuzzy()  # first: a typo would make an acronym or "Okafor" look ambiguous
    merger.acronyms()
    merger.partial_names()
    merger.untyped()
    groups = merger.groups()
    taken: set[str] = set()
    entities = [_build_entity([mentions[i] for i in group], taken) for group in groups]

    merged: dict[tuple[str, str, str], Relation] = {}
    unresolved: list[RelationMention] = []
    if not relations:
        return EntityGraph(entities=entities), unresolved
    resolver = _Resolver(entities, groups, merger)
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

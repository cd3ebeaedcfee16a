"""Seeded long documents with known facts, and a scripted extractor that reads them.

For benchmarks, tests, the demo and the cookbook: :func:`make_corpus` writes a
long document about fictional companies, people and products, each with typed
properties (years, dates, amounts, identifiers), introduced once with their
aliases and later referred to by partial names, acronyms, titles or upper
case, between paragraphs of distractor prose. The gold facts are returned with
the text.

:func:`scripted_extractor` is a clearly labelled *scripted* model, not a
language model: for each chunk it reports exactly the gold entities whose
names appear in the chunk (under the name the chunk uses) and the gold facts
whose sentence lies in the chunk, as a faithful extractor would. It answers
tool calls with :class:`~langchain_niche.compression.Extraction` objects and
JSON-mode prompts with JSON text (in a code fence, as models do).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage

from langchain_niche.compression.graph import EntityGraph
from langchain_niche.compression.keys import name_key
from langchain_niche.compression.schema import ExtractedEntity, ExtractedRelation, Extraction
from langchain_niche.testing import ScriptedCall, ScriptedChatModel, tool_call, usage_metadata

__all__ = [
    "GoldEntity",
    "GoldFact",
    "GoldRelation",
    "GoldReport",
    "SyntheticCorpus",
    "check_gold",
    "make_corpus",
    "scripted_extractor",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_PREFIXES = _words(
    "Northwind Aldergrove Brightwater Cobalt Driftwood Emberline Fairhaven Granite Harrow "
    "Ironbark Juniper Kestrel Larkspur Meridian Nimbus Oakhurst Pinecrest Quarry Redfern "
    "Silverleaf Thornfield Umber Vantage Willowmere Yarrow Zephyr Ashcombe Bellweather "
    "Copperline Dunmore"
)
_FIELDS = _words("Applied Coastal Digital Orbital Precision Quantum Thermal Urban Vertical Marine")
_KINDS = _words("Robotics Systems Logistics Analytics Materials Dynamics Instruments Networks")
_FIRST = _words(
    "Mira Jonas Amara Tobias Ines Rafael Leila Henrik Sana Mateo Yuki Olga Kwame Elena "
    "Farid Ingrid Tomasz Priya Lucas Noor Anika Bruno Chiara Dmitri"
)
_LAST = _words(
    "Okafor Lindqvist Brennan Castellanos Whitcombe Adeyemi Haraldsen Moreau Takahashi "
    "Novak Mensah Petrova Albrecht Quintero Sorensen Kowalczyk Varga Delacroix Nakamura "
    "Oyelaran Fitzgerald Bergstrom Ramachandran Esposito"
)
_PRODUCT_NAMES = _words(
    "Helios Atlas Borealis Cirrus Dynamo Equinox Falcon Gemini Halcyon Ion Javelin Krypton"
)
_CITIES = _words(
    "Oslo Rotterdam Lisbon Tallinn Valparaíso Montréal Nagoya Brisbane Nairobi Kraków "
    "Göteborg Ljubljana"
)
_ROLES = (
    "chief technology officer",
    "head of procurement",
    "chief financial officer",
    "director of research",
    "general counsel",
    "vice president of operations",
)
_MONTHS = _words(
    "January February March April May June July August September October November December"
)
_DISTRACTOR_SUBJECTS = (
    "The quarterly review",
    "A steering committee",
    "The regional office",
    "An internal memo",
    "The logistics team",
    "A customer survey",
    "The annual audit",
    "Market analysts",
    "The planning group",
    "A working paper",
)
_DISTRACTOR_VERBS = (
    "discussed",
    "summarised",
    "questioned",
    "postponed",
    "reviewed",
    "compared",
    "outlined",
    "revisited",
)
_DISTRACTOR_OBJECTS = (
    "the schedule for shipping containers across the northern routes",
    "several options for reducing energy use in the warehouses",
    "how seasonal demand shifts the workload of the support desk",
    "a proposal to consolidate suppliers of packaging material",
    "the training plan for new staff in the coming months",
    "a long list of minor complaints about the cafeteria",
    "the weather risks that delay construction in late autumn",
    "whether meetings should start earlier on Mondays",
    "the backlog of maintenance requests for older buildings",
    "ways to simplify the approval of travel expenses",
)
_DISTRACTOR_TAILS = (
    "without reaching a firm conclusion",
    "and asked for more data before the next meeting",
    "while noting that nothing would change this year",
    "in a lengthy and mostly uneventful session",
    "and agreed to revisit the topic later",
    "with the usual mix of optimism and caution",
)

_FACT_TEMPLATES = {
    "founded": "{ref} was founded in {value}.",
    "headquarters": "{ref} is headquartered in {value}.",
    "revenue": "{ref} reported annual revenue of {value}.",
    "employees": "{ref} employs {value} people.",
    "born": "{ref} was born on {value}.",
    "role": "{ref} serves as {value}.",
    "employee_id": "The personnel file of {ref} lists the identifier {value}.",
    "launched": "{ref} was launched on {value}.",
    "price": "{ref} sells for {value}.",
    "sku": "{ref} carries the catalogue code {value}.",
}
_RELATION_TEMPLATES = {
    "works_for": "{source} works for {target}.",
    "manufactured_by": "{source} is manufactured by {target}.",
}
_PARAGRAPH_SENTENCES = 4


@dataclass(frozen=True)
class GoldEntity:
    """An entity of a synthetic corpus."""

    id: str
    type: str
    name: str
    introduced_aliases: tuple[str, ...]
    """Aliases the introduction sentence gives next to the full name."""
    later_forms: tuple[str, ...]
    """Other ways the text refers to it later (partial names, titles, upper case)."""
    properties: dict[str, str]

    @property
    def surfaces(self) -> tuple[str, ...]:
        """Every form the text uses for the entity."""
        return (self.name, *self.introduced_aliases, *self.later_forms)


@dataclass(frozen=True)
class GoldFact:
    """A property value stated in one sentence of the text."""

    entity: str
    property: str
    value: str
    sentence: str


@dataclass(frozen=True)
class GoldRelation:
    """A relation stated in one sentence of the text."""

    source: str
    relation: str
    target: str
    sentence: str
    source_form: str
    target_form: str


@dataclass
class SyntheticCorpus:
    """A long document and the facts it states."""

    text: str
    entities: list[GoldEntity]
    facts: list[GoldFact]
    relations: list[GoldRelation]
    intros: dict[str, str] = field(default_factory=dict)
    """Entity id -> its introduction sentence."""

    def document(self, **metadata: Any) -> Document:
        """The text as a ``Document``.

        Args:
            **metadata: Metadata of the document.

        Returns:
            The document.
        """
        return Document(page_content=self.text, metadata=metadata)


def _date(rng: random.Random, lo: int, hi: int) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(lo, hi)}"


def _entities(rng: random.Random, companies: int, people: int, products: int) -> list[GoldEntity]:
    out: list[GoldEntity] = []
    prefixes = rng.sample(_PREFIXES, companies)
    acronyms: set[str] = set()
    for i, prefix in enumerate(prefixes):
        words = (prefix, rng.choice(_FIELDS), rng.choice(_KINDS))
        while "".join(w[0] for w in words) in acronyms:  # acronyms must identify one company
            words = (prefix, rng.choice(_FIELDS), rng.choice(_KINDS))
        name = " ".join(words)
        acronym = "".join(w[0] for w in words)
        acronyms.add(acronym)
        properties = {
            "founded": str(rng.randint(1950, 2019)),
            "headquarters": rng.choice(_CITIES),
            "revenue": f"${rng.randint(10, 999)}.{rng.randint(0, 9)} million",
            "employees": f"{rng.randint(1, 60)},{rng.randint(0, 999):03d}",
        }
        out.append(
            GoldEntity(
                f"company-{i}", "Company", name, (acronym,), (prefix, name.upper()), properties
            )
        )
    firsts = rng.sample(_FIRST, people)
    lasts = rng.sample(_LAST, people)
    for i, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        properties = {
            "born": _date(rng, 1950, 1999),
            "role": rng.choice(_ROLES),
            "employee_id": f"EMP-{rng.randint(10000, 99999)}",
        }
        out.append(
            GoldEntity(
                f"person-{i}", "Person", f"{first} {last}", (), (last, f"Dr. {last}"), properties
            )
        )
    names = rng.sample(_PRODUCT_NAMES, products)
    for i, base in enumerate(names):
        model = f"{rng.choice('XKQRZ')}{rng.randint(2, 99)}"
        name = f"{base} {model}"
        code = f"{base[:2].upper()}-{model}"
        properties = {
            "launched": _date(rng, 2005, 2024),
            "price": f"${rng.randint(1, 9)},{rng.randint(0, 999):03d}.00",
            "sku": f"SKU-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        }
        out.append(GoldEntity(f"product-{i}", "Product", name, (code,), (), properties))
    return out


def _intro(entity: GoldEntity) -> str:
    aliases = f" ({', '.join(entity.introduced_aliases)})" if entity.introduced_aliases else ""
    kind = {"Company": "a company", "Person": "a person", "Product": "a product"}[entity.type]
    return f"This report also covers {entity.name}{aliases}, {kind} of interest."


def _distractor(rng: random.Random) -> str:
    return (
        f"{rng.choice(_DISTRACTOR_SUBJECTS)} {rng.choice(_DISTRACTOR_VERBS)} "
        f"{rng.choice(_DISTRACTOR_OBJECTS)} {rng.choice(_DISTRACTOR_TAILS)}."
    )


def make_corpus(
    seed: int = 0,
    *,
    companies: int = 6,
    people: int = 10,
    products: int = 6,
    distractors_per_fact: int = 4,
) -> SyntheticCorpus:
    """Generate a long document with known entities, facts and relations.

    Args:
        seed: Random seed (same seed, same corpus).
        companies: Number of companies (each: founded, headquarters, revenue, employees).
        people: Number of people (each: born, role, employee_id; works for a company).
        products: Number of products (each: launched, price, sku; made by a company).
        distractors_per_fact: Sentences of unrelated prose per fact sentence.

    Returns:
        The corpus: text and gold data.

    Example:
        ```python
        corpus = make_corpus(seed=1)
        len(corpus.facts), len(corpus.text)  # (66, ...)
        ```
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not security
    entities = _entities(rng, companies, people, products)
    companies_list = [e for e in entities if e.type == "Company"]
    facts: list[GoldFact] = []
    relations: list[GoldRelation] = []
    intros = {e.id: _intro(e) for e in entities}
    # Each entity: its introduction first, then its facts, in a random place in the text.
    timelines: list[list[str]] = []
    for entity in entities:
        forms = entity.surfaces
        timeline = [intros[entity.id]]
        for prop, value in entity.properties.items():
            sentence = _FACT_TEMPLATES[prop].format(ref=rng.choice(forms), value=value)
            facts.append(GoldFact(entity.id, prop, value, sentence))
            timeline.append(sentence)
        if entity.type != "Company" and companies_list:
            target = rng.choice(companies_list)
            relation = "works_for" if entity.type == "Person" else "manufactured_by"
            source_form, target_form = rng.choice(forms), rng.choice(target.surfaces)
            sentence = _RELATION_TEMPLATES[relation].format(source=source_form, target=target_form)
            relations.append(
                GoldRelation(entity.id, relation, target.id, sentence, source_form, target_form)
            )
            timeline.append(sentence)
        timelines.append(timeline)
    # Interleave the timelines (order within each kept) and pad with distractor prose.
    sentences: list[str] = []
    cursors = [0] * len(timelines)
    pending = [i for i, t in enumerate(timelines) if t]
    while pending:
        i = rng.choice(pending)
        sentences.append(timelines[i][cursors[i]])
        cursors[i] += 1
        if cursors[i] == len(timelines[i]):
            pending.remove(i)
        sentences.extend(_distractor(rng) for _ in range(distractors_per_fact))
    paragraphs = [
        " ".join(sentences[i : i + _PARAGRAPH_SENTENCES])
        for i in range(0, len(sentences), _PARAGRAPH_SENTENCES)
    ]
    return SyntheticCorpus("\n\n".join(paragraphs), entities, facts, relations, intros)


# -- the scripted extractor ----------------------------------------------------------------
_DOCUMENT_RE = re.compile(r"<document>\n?(.*?)\n?</document>", re.DOTALL)


def _chunk_text(messages: Sequence[BaseMessage]) -> str:
    text = str(messages[-1].content)
    match = _DOCUMENT_RE.search(text)
    return match.group(1) if match else text


class _Oracle:
    def __init__(self, corpora: Sequence[SyntheticCorpus]) -> None:
        self.entities = {e.id: e for c in corpora for e in c.entities}
        self.owners: dict[str, list[str]] = {}
        for entity in self.entities.values():
            for form in entity.surfaces:
                self.owners.setdefault(form, []).append(entity.id)
        # One pass over the chunk for every name (longest first), to stay a cheap fake model.
        alternatives = "|".join(map(re.escape, sorted(self.owners, key=len, reverse=True)))
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
        self.facts = [f for c in corpora for f in c.facts]
        self.relations = [r for c in corpora for r in c.relations]

    def extract(self, chunk: str) -> Extraction:
        found: dict[str, list[str]] = {}
        for match in self.pattern.finditer(chunk):
            for entity_id in self.owners[match.group()]:
                forms = found.setdefault(entity_id, [])
                if match.group() not in forms:
                    forms.append(match.group())
        for forms in found.values():
            forms.sort(key=lambda f: -len(f))
        properties: dict[str, dict[str, str]] = {entity_id: {} for entity_id in found}
        for fact in self.facts:
            if fact.entity in found and fact.sentence in chunk:
                properties[fact.entity][fact.property] = fact.value
        entities = [
            ExtractedEntity(
                name=forms[0],
                type=self.entities[entity_id].type,
                aliases=forms[1:],
                properties=dict(properties[entity_id]),
            )
            for entity_id, forms in found.items()
        ]
        relations = [
            ExtractedRelation(source=r.source_form, relation=r.relation, target=r.target_form)
            for r in self.relations
            if r.sentence in chunk
        ]
        return Extraction(entities=entities, relations=relations)


def scripted_extractor(
    corpora: SyntheticCorpus | Sequence[SyntheticCorpus], *, latency: float = 0.0
) -> ScriptedChatModel:
    """A scripted (not a language) model that extracts a synthetic corpus faithfully.

    Args:
        corpora: The corpus or corpora whose gold data it knows.
        latency: Seconds each call takes (to measure concurrency).

    Returns:
        A :class:`~langchain_niche.testing.ScriptedChatModel` answering extraction
        prompts: tool calls with ``Extraction`` objects, JSON prompts with JSON text.
    """
    oracle = _Oracle([corpora] if isinstance(corpora, SyntheticCorpus) else list(corpora))

    def respond(messages: list[BaseMessage], call: ScriptedCall) -> Any:
        chunk = _chunk_text(messages)
        extraction = oracle.extract(chunk)
        if call.tools:
            reply = tool_call(call.tool_names[0], extraction.model_dump(mode="json"))
        else:
            text = json.dumps(extraction.model_dump(), ensure_ascii=False)
            reply = AIMessage(content=f"```json\n{text}\n```")
        # Rough usage, set here so the scripted model does not count a long prompt per call.
        tokens_out = len(str(reply.tool_calls or reply.content)) // 4
        reply.usage_metadata = usage_metadata(len(chunk) // 4, tokens_out)
        return reply

    return ScriptedChatModel(
        responder=respond, latency=latency, model_name="scripted-faithful-extractor"
    )


# -- scoring against the gold data ------------------------------------------------------
@dataclass
class GoldReport:
    """How much of a corpus's gold data survived compression."""

    facts: int = 0
    facts_in_graph: int = 0
    facts_rendered: int = 0
    relations: int = 0
    relations_in_graph: int = 0
    gold_entities: int = 0
    graph_entities: int = 0
    duplicates: int = 0
    """Extra graph entities for one gold entity (0 when merging is perfect)."""
    unmatched: int = 0
    """Graph entities that match no gold entity."""
    missing: list[str] = field(default_factory=list)

    @property
    def fact_recall(self) -> float:
        """Share of gold facts present in the rendered text."""
        return self.facts_rendered / self.facts if self.facts else 1.0


def _cards_by_name(text: str) -> dict[str, str]:
    cards = {}
    for block in text.split("\n\n"):
        head = block.split("\n", 1)[0]
        cards[head.split(" [", 1)[0]] = block
    return cards


def check_gold(corpus: SyntheticCorpus, graph: EntityGraph, rendered: str) -> GoldReport:
    """Compare a merged graph and its rendering (cards) with the gold data.

    Args:
        corpus: The corpus.
        graph: The merged graph.
        rendered: The compressed text in ``"cards"`` format.

    Returns:
        The report.
    """
    report = GoldReport(
        facts=len(corpus.facts),
        relations=len(corpus.relations),
        gold_entities=len(corpus.entities),
        graph_entities=len(graph.entities),
    )
    gold_keys = {e.id: {name_key(s) for s in e.surfaces} for e in corpus.entities}
    matches: dict[str, list[str]] = {e.id: [] for e in corpus.entities}
    for entity in graph.entities:
        keys = {name_key(n) for n in entity.names}
        owners = [gold_id for gold_id, gk in gold_keys.items() if keys & gk]
        if len(owners) == 1:
            matches[owners[0]].append(entity.id)
        else:
            report.unmatched += 1
    report.duplicates = sum(max(0, len(ids) - 1) for ids in matches.values())
    by_id = graph.by_id()
    cards = _cards_by_name(rendered)
    for fact in corpus.facts:
        merged = [by_id[i] for i in matches[fact.entity]]
        if any(fact.value in e.values(fact.property) for e in merged):
            report.facts_in_graph += 1
        lines = [line for e in merged for line in cards.get(e.name, "").splitlines()]
        if any(line.startswith(f"- {fact.property}: ") and fact.value in line for line in lines):
            report.facts_rendered += 1
        else:
            report.missing.append(f"{fact.entity}.{fact.property}={fact.value}")
    for relation in corpus.relations:
        sources, targets = set(matches[relation.source]), set(matches[relation.target])
        if any(
            r.source in sources and r.target in targets and r.relation == relation.relation
            for r in graph.relations
        ):
            report.relations_in_graph += 1
    return report

"""Render an entity graph as compact text for a prompt: cards, JSON or triples.

* ``"cards"``: one block per entity, its names, its properties and its
  outgoing relations: the most readable for a model, usually the shortest.
* ``"json"``: the same content as compact JSON (for prompts that parse it).
* ``"triples"``: one ``subject | predicate | object`` line per fact.

Values that grounding could not find in the source (kept by
``grounding="flag"``) are marked ``(unverified)``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_niche.compression.graph import Entity, EntityGraph, PropertyValue

__all__ = ["OutputFormat", "render_graph"]

OutputFormat = Literal["cards", "json", "triples"]
"""How compressed documents render their entities."""

UNVERIFIED = " (unverified)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _value(item: PropertyValue) -> str:
    text = _one_line(item.value)
    return text + UNVERIFIED if item.grounded is False else text


def _cards(graph: EntityGraph) -> str:
    names = {entity.id: entity.name for entity in graph.entities}
    outgoing: dict[str, list[str]] = {}
    for relation in graph.relations:
        outgoing.setdefault(relation.source, []).append(
            f"- {relation.relation}: {_one_line(names[relation.target])}"
        )
    blocks = []
    for entity in graph.entities:
        head = f"{_one_line(entity.name)} [{_one_line(entity.type) or 'entity'}]"
        if entity.aliases:
            head += " (aka " + "; ".join(_one_line(a) for a in entity.aliases) + ")"
        lines = [head]
        lines.extend(
            f"- {key}: " + " | ".join(_value(item) for item in items)
            for key, items in entity.properties.items()
        )
        lines.extend(outgoing.get(entity.id, []))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _json_entity(entity: Entity) -> dict[str, Any]:
    out: dict[str, Any] = {"name": entity.name, "type": entity.type}
    if entity.aliases:
        out["aliases"] = entity.aliases
    properties: dict[str, Any] = {}
    unverified: dict[str, list[str]] = {}
    for key, items in entity.properties.items():
        values = [item.value for item in items]
        properties[key] = values[0] if len(values) == 1 else values
        flagged = [item.value for item in items if item.grounded is False]
        if flagged:
            unverified[key] = flagged
    if properties:
        out["properties"] = properties
    if unverified:
        out["unverified"] = unverified
    return out


def _json(graph: EntityGraph) -> str:
    names = {entity.id: entity.name for entity in graph.entities}
    payload: dict[str, Any] = {"entities": [_json_entity(e) for e in graph.entities]}
    if graph.relations:
        payload["relations"] = [
            [names[r.source], r.relation, names[r.target]] for r in graph.relations
        ]
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _triples(graph: EntityGraph) -> str:
    names = {entity.id: _one_line(entity.name) for entity in graph.entities}
    lines = []
    for entity in graph.entities:
        subject = names[entity.id]
        lines.append(f"{subject} | type | {_one_line(entity.type) or 'entity'}")
        lines.extend(f"{subject} | alias | {_one_line(alias)}" for alias in entity.aliases)
        lines.extend(
            f"{subject} | {key} | {_value(item)}"
            for key, items in entity.properties.items()
            for item in items
        )
    lines.extend(f"{names[r.source]} | {r.relation} | {names[r.target]}" for r in graph.relations)
    return "\n".join(lines)


_RENDERERS = {"cards": _cards, "json": _json, "triples": _triples}


def render_graph(graph: EntityGraph, output_format: OutputFormat = "cards") -> str:
    """Render a graph as text.

    Args:
        graph: The graph (relations must point at entities of the graph).
        output_format: ``"cards"``, ``"json"`` or ``"triples"``.

    Returns:
        The text (empty for an empty graph).

    Example:
        ```python
        print(render_graph(graph))
        # Mira Okafor [Person] (aka Okafor)
        # - born: 12 March 1971
        # - works_for: Northwind Applied Robotics
        ```
    """
    if not graph.entities:
        return ""
    return _RENDERERS[output_format](graph)

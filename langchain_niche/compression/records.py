"""The merged graph as records (list of dicts) or a pandas DataFrame.

Records let a program decide without a model: filter entities by a property,
find conflicting values, join with other tables. Three shapes:

* ``"entities"``: one row per entity: ``entity_id``, ``entity``, ``entity_type``,
  ``aliases``, ``mentions`` and one column per property (a string, or a list
  when the sources give several values).
* ``"facts"``: one row per property value: the value, whether it was grounded,
  whether the property has conflicting values, and where it was read.
* ``"relations"``: one row per relation with both endpoints' ids and names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_niche.errors import InvalidParameterError

if TYPE_CHECKING:
    from langchain_niche.compression.graph import EntityGraph, RecordKind

__all__ = ["graph_records", "records_dataframe"]

ENTITY_COLUMNS = ("entity_id", "entity", "entity_type", "aliases", "mentions")
FACT_COLUMNS = (
    "entity_id",
    "entity",
    "entity_type",
    "property",
    "value",
    "grounded",
    "conflict",
    "mentions",
    "documents",
    "sources",
    "start",
    "end",
)
RELATION_COLUMNS = (
    "source_id",
    "source",
    "relation",
    "target_id",
    "target",
    "mentions",
    "documents",
)


def _entity_rows(graph: EntityGraph) -> list[dict[str, Any]]:
    rows = []
    for entity in graph.entities:
        row: dict[str, Any] = {
            "entity_id": entity.id,
            "entity": entity.name,
            "entity_type": entity.type,
            "aliases": list(entity.aliases),
            "mentions": len(entity.evidence),
        }
        for key, items in entity.properties.items():
            column = f"property_{key}" if key in ENTITY_COLUMNS else key
            values = [item.value for item in items]
            row[column] = values[0] if len(values) == 1 else values
        rows.append(row)
    return rows


def _fact_rows(graph: EntityGraph) -> list[dict[str, Any]]:
    rows = []
    for entity in graph.entities:
        for key, items in entity.properties.items():
            for item in items:
                first = item.evidence[0] if item.evidence else None
                rows.append(
                    {
                        "entity_id": entity.id,
                        "entity": entity.name,
                        "entity_type": entity.type,
                        "property": key,
                        "value": item.value,
                        "grounded": item.grounded,
                        "conflict": len(items) > 1,
                        "mentions": len(item.evidence),
                        "documents": sorted({ev.document for ev in item.evidence}),
                        "sources": sorted({ev.source for ev in item.evidence if ev.source}),
                        "start": first.start if first else None,
                        "end": first.end if first else None,
                    }
                )
    return rows


def _relation_rows(graph: EntityGraph) -> list[dict[str, Any]]:
    names = {entity.id: entity.name for entity in graph.entities}
    return [
        {
            "source_id": relation.source,
            "source": names.get(relation.source, relation.source),
            "relation": relation.relation,
            "target_id": relation.target,
            "target": names.get(relation.target, relation.target),
            "mentions": len(relation.evidence),
            "documents": sorted({ev.document for ev in relation.evidence}),
        }
        for relation in graph.relations
    ]


_BUILDERS = {"entities": _entity_rows, "facts": _fact_rows, "relations": _relation_rows}
_COLUMNS = {"entities": ENTITY_COLUMNS, "facts": FACT_COLUMNS, "relations": RELATION_COLUMNS}


def graph_records(graph: EntityGraph, kind: RecordKind = "entities") -> list[dict[str, Any]]:
    """Flatten a graph into records.

    Args:
        graph: The graph.
        kind: ``"entities"``, ``"facts"`` or ``"relations"``.

    Returns:
        One dict per row.

    Raises:
        InvalidParameterError: Unknown ``kind``.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        msg = f"kind must be 'entities', 'facts' or 'relations', got {kind!r}"
        raise InvalidParameterError(msg, name="kind", value=kind)
    return builder(graph)


def records_dataframe(records: Sequence[dict[str, Any]], kind: RecordKind = "entities") -> Any:
    """Turn records into a ``pandas.DataFrame``.

    Args:
        records: Rows from :func:`graph_records`.
        kind: Their kind (gives the columns of an empty frame).

    Returns:
        The DataFrame.

    Raises:
        ImportError: pandas is not installed.
    """
    try:
        import pandas as pd  # noqa: PLC0415 - optional dependency
    except ImportError as exc:
        msg = 'records as a DataFrame need pandas: pip install "langchain-niche[pandas]"'
        raise ImportError(msg) from exc
    if not records:
        return pd.DataFrame(columns=list(_COLUMNS.get(kind, ())))
    return pd.DataFrame.from_records(list(records))

"""PEARL: plan and execute actions over long documents (Sun et al., 2023).

* :class:`Action`, :class:`ActionSet`, :data:`SEED_ACTIONS`, :data:`DEFAULT_ACTIONS`:
  the plan vocabulary.
* :func:`parse_plan`, :class:`Plan`: the plan language (parsed, never evaluated).
"""

from langchain_niche.pearl.actions import (
    DEFAULT_ACTIONS,
    SEED_ACTIONS,
    Action,
    ActionSet,
    parse_action,
)
from langchain_niche.pearl.errors import ActionFormatError, PlanParseError, SavedFileError
from langchain_niche.pearl.plan import Argument, Plan, PlanStep, parse_plan

__all__ = [
    "DEFAULT_ACTIONS",
    "SEED_ACTIONS",
    "Action",
    "ActionFormatError",
    "ActionSet",
    "Argument",
    "Plan",
    "PlanParseError",
    "PlanStep",
    "SavedFileError",
    "parse_action",
    "parse_plan",
]

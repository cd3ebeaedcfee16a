"""PEARL: plan and execute actions over long documents (Sun et al., 2023).

* :class:`PEARL`: the Runnable (``{"question", "document"} -> PEARLResult``).
* :class:`Action`, :class:`ActionSet`, :data:`SEED_ACTIONS`, :data:`DEFAULT_ACTIONS`:
  the plan vocabulary; :func:`mine_actions` / :func:`simplify_actions` build one
  from your questions.
* :func:`parse_plan`, :class:`Plan`: the plan language (parsed, never evaluated).
* :class:`Demonstration`, :func:`refine_demonstrations`: plan demonstrations and
  self-refinement; :func:`save_demonstrations` / :func:`load_demonstrations`.
* :func:`evaluate`, :func:`compare`, :func:`format_reports`, :class:`ZeroShotQA`,
  :func:`load_quality_jsonl`: accuracy and cost on a dataset, PEARL vs zero-shot.
"""

from langchain_niche.pearl.actions import (
    DEFAULT_ACTIONS,
    SEED_ACTIONS,
    Action,
    ActionSet,
    parse_action,
)
from langchain_niche.pearl.baseline import ZeroShotQA
from langchain_niche.pearl.chunking import split_text
from langchain_niche.pearl.demonstrations import (
    DEFAULT_DEMONSTRATIONS,
    Demonstration,
    load_demonstrations,
    save_demonstrations,
)
from langchain_niche.pearl.errors import (
    ActionFormatError,
    ContextBudgetError,
    PEARLBatchError,
    PlanParseError,
    SavedFileError,
    StepExecutionError,
)
from langchain_niche.pearl.evaluate import (
    EvaluationItem,
    EvaluationReport,
    aevaluate,
    bootstrap_interval,
    compare,
    evaluate,
    format_reports,
    load_quality_jsonl,
)
from langchain_niche.pearl.grading import agrade, grade, llm_judge
from langchain_niche.pearl.mining import (
    amine_actions,
    asimplify_actions,
    mine_actions,
    simplify_actions,
)
from langchain_niche.pearl.plan import Argument, Plan, PlanStep, parse_plan
from langchain_niche.pearl.refine import arefine_demonstrations, refine_demonstrations
from langchain_niche.pearl.retry import RetryPolicy
from langchain_niche.pearl.runnable import PEARL, PEARLInput
from langchain_niche.pearl.trace import PEARLEvent, PEARLResult, PlanAttempt, StepRecord, Usage

__all__ = [
    "DEFAULT_ACTIONS",
    "DEFAULT_DEMONSTRATIONS",
    "PEARL",
    "SEED_ACTIONS",
    "Action",
    "ActionFormatError",
    "ActionSet",
    "Argument",
    "ContextBudgetError",
    "Demonstration",
    "EvaluationItem",
    "EvaluationReport",
    "PEARLBatchError",
    "PEARLEvent",
    "PEARLInput",
    "PEARLResult",
    "Plan",
    "PlanAttempt",
    "PlanParseError",
    "PlanStep",
    "RetryPolicy",
    "SavedFileError",
    "StepExecutionError",
    "StepRecord",
    "Usage",
    "ZeroShotQA",
    "aevaluate",
    "agrade",
    "amine_actions",
    "arefine_demonstrations",
    "asimplify_actions",
    "bootstrap_interval",
    "compare",
    "evaluate",
    "format_reports",
    "grade",
    "llm_judge",
    "load_demonstrations",
    "load_quality_jsonl",
    "mine_actions",
    "parse_action",
    "parse_plan",
    "refine_demonstrations",
    "save_demonstrations",
    "simplify_actions",
    "split_text",
]

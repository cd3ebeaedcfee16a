"""Teacher -> student routing: imitation by retrieval, without fine-tuning.

A strong model (teacher) answers; its answers become few-shot examples; a cheap
model (student) answers with the most similar ones in its prompt whenever the
retrieved examples cover the input. Modules: ``router`` (the Runnable),
``policies`` (when the student answers), ``costs`` (usage, prices, stats),
``calibrate`` (thresholds from a development stream), ``collect`` (bootstrap a
store), ``store`` (checks and duplicate-free writes), ``answers`` (outputs as
text), ``errors``.
"""

from langchain_niche.routing.calibrate import CalibrationPoint, CalibrationReport, sweep
from langchain_niche.routing.collect import (
    CollectFailure,
    CollectReport,
    acollect_examples,
    collect_examples,
)
from langchain_niche.routing.costs import Price, PriceTable, RouterStats, RouteStats
from langchain_niche.routing.errors import AnswerFormatError, RoutingError, TeacherError
from langchain_niche.routing.policies import (
    AgreementPolicy,
    RouteDecision,
    SimilarityPolicy,
    exact_match,
    normalize_answer,
)
from langchain_niche.routing.router import (
    DEFAULT_SYSTEM_PROMPT,
    TeacherStudentRouter,
    default_student_prompt,
)

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "AgreementPolicy",
    "AnswerFormatError",
    "CalibrationPoint",
    "CalibrationReport",
    "CollectFailure",
    "CollectReport",
    "Price",
    "PriceTable",
    "RouteDecision",
    "RouteStats",
    "RouterStats",
    "RoutingError",
    "SimilarityPolicy",
    "TeacherError",
    "TeacherStudentRouter",
    "acollect_examples",
    "collect_examples",
    "default_student_prompt",
    "exact_match",
    "normalize_answer",
    "sweep",
]

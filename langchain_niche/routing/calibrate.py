"""Calibrate a router's policy on a development stream.

Semantics (issue 13): the teacher answers every development input, in order,
and its answers are learned as they come; the student answers the inputs that
some setting of the policy could send to it. For every setting (a family such
as "the 3 best examples agree" and a threshold on ``min_score``) the router's
end-to-end answers are scored against the teacher's: an input the setting sends
to the teacher agrees by definition (the routing literature's "X% of the strong
model's quality"), one it sends to the student agrees when ``metric(student,
teacher)`` holds, and one whose student call failed agrees (the router falls
back to the teacher). The policy is set to the largest student share whose
agreement is at least ``target``.

"Agree on at least ``target`` of the inputs" is read as a statement about the
inputs the router will serve, of which the development stream is a sample: with
``confidence=0.95`` (default) a setting qualifies when the one-sided 95% Wilson
lower bound of its agreement is at least ``target``; ``confidence=None`` takes the
development sample's agreement as it is. Picking the largest share among many
noisy settings overfits the sample: on the benchmark corpora the sample reading
calibrated to 0.950 on dev gave 0.945 on held-out inputs, the bound kept held-out
agreement above the target (see the README's table).

The sweep is a pure function of the recorded signals and agreements
(:func:`sweep`), so the whole share/agreement curve comes at no extra model cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config

from langchain_niche._sansio import Call
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.routing.answers import answer_text
from langchain_niche.routing.errors import AnswerFormatError, TeacherError
from langchain_niche.routing.policies import (
    AgreementPolicy,
    ScoredExamples,
    SimilarityPolicy,
    exact_match,
)

if TYPE_CHECKING:
    from langchain_niche.routing.router import TeacherStudentRouter

__all__ = ["CalibrationPoint", "CalibrationReport", "sweep", "wilson_lower"]

MetricFn = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class CalibrationPoint:
    """One policy setting and how it did on the development stream."""

    family: int
    """The setting's family (``min_examples`` for the agreement policy; 1 for similarity)."""
    threshold: float
    """``min_score`` (``inf``: never the student)."""
    student_share: float
    """Share of inputs this setting sends to the student."""
    agreement: float
    """Share of inputs whose end-to-end answer agrees with the teacher's."""
    students: int
    """Inputs sent to the student."""
    disagreements: int
    """Of those, answers that differ from the teacher's."""
    agreement_lower: float = 1.0
    """One-sided lower confidence bound of ``agreement`` (Wilson; 1.0 with no student)."""


@dataclass(frozen=True)
class CalibrationReport:
    """What :meth:`TeacherStudentRouter.calibrate` measured and chose."""

    target: float
    """The required agreement."""
    confidence: float | None
    """Confidence of the lower bound compared with ``target`` (``None``: the sample agreement)."""
    n: int
    """Development inputs."""
    chosen: CalibrationPoint
    """The setting applied to the policy."""
    points: list[CalibrationPoint]
    """Every setting swept (all families, all thresholds, plus "never the student")."""
    settings: dict[str, Any]
    """The policy's settings after calibration."""
    teacher_calls: int = 0
    student_calls: int = 0
    student_failures: int = 0
    learned: int = 0
    """Teacher answers stored while calibrating."""
    metric_name: str = "exact_match"
    """The ``metric`` compared answers with."""

    @property
    def met(self) -> bool:
        """Whether some setting with a student share above 0 reached the target."""
        return self.chosen.students > 0

    def curve(self) -> list[tuple[float, float]]:
        """The share/agreement curve: the best agreement reached at each student share.

        Returns:
            ``[(student_share, agreement)]`` sorted by share, from ``(0.0, 1.0)``
            (everything to the teacher) to the largest share any setting reached;
            for each share the highest agreement over all settings swept.
        """
        best: dict[float, float] = {}
        for point in self.points:
            share = point.student_share
            best[share] = max(best.get(share, 0.0), point.agreement)
        return sorted(best.items())

    def to_rows(self) -> list[dict[str, Any]]:
        """The points as dicts (e.g. for ``pandas.DataFrame``)."""
        return [
            {
                "family": p.family,
                "threshold": p.threshold,
                "student_share": p.student_share,
                "agreement": p.agreement,
                "students": p.students,
                "disagreements": p.disagreements,
                "agreement_lower": p.agreement_lower,
            }
            for p in self.points
        ]


def sweep(signals: Sequence[float], agrees: Sequence[bool]) -> list[tuple[float, int, int]]:
    """Every threshold's ``(threshold, students, disagreements)`` for one family.

    An input goes to the student when its signal is at least the threshold;
    thresholds are the distinct finite signals, plus ``inf`` (nobody).

    Args:
        signals: One signal per input (``-inf``: never the student).
        agrees: Whether the student's answer for that input agrees with the teacher's.

    Returns:
        ``[(inf, 0, 0), (highest signal, ...), ..., (lowest finite signal, ...)]``.
    """
    if len(signals) != len(agrees):
        msg = f"signals and agrees differ in length: {len(signals)} != {len(agrees)}"
        raise InvalidParameterError(msg, name="agrees", value=len(agrees))
    order = sorted(
        (i for i, s in enumerate(signals) if math.isfinite(s)), key=lambda i: -signals[i]
    )
    out = [(math.inf, 0, 0)]
    disagreements = 0
    for pos, i in enumerate(order):
        students = pos + 1
        disagreements += 0 if agrees[i] else 1
        if pos + 1 == len(order) or signals[order[pos + 1]] != signals[i]:
            out.append((float(signals[i]), students, disagreements))
    return out


@dataclass
class _Record:
    signals: dict[int, float]
    agrees: bool


def wilson_lower(agreeing: int, n: int, confidence: float) -> float:
    """One-sided Wilson score lower bound of a proportion ``agreeing / n``.

    Args:
        agreeing: Successes.
        n: Trials (> 0).
        confidence: E.g. 0.95.

    Returns:
        The bound in [0, 1].
    """
    z = NormalDist().inv_cdf(confidence)
    p = agreeing / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - spread) / denominator)


def _check(
    router: TeacherStudentRouter, inputs: Any, target: Any, metric: Any, confidence: Any
) -> list[Any]:
    ok = confidence is None or (isinstance(confidence, float) and 0.5 <= confidence < 1.0)
    if not ok:
        msg = f"confidence must be None or a float in [0.5, 1), got {preview(confidence)}"
        raise InvalidParameterError(msg, name="confidence", value=confidence)
    ok = isinstance(target, int | float) and not isinstance(target, bool) and 0.0 < target <= 1.0
    if not ok:
        msg = f"target must be a number in (0, 1], got {preview(target)}"
        raise InvalidParameterError(msg, name="target", value=target)
    if metric is not None and not callable(metric):
        msg = f"metric must be None or a callable (answer, teacher_answer) -> bool, got {preview(metric)}"
        raise InvalidParameterError(msg, name="metric", value=metric)
    if not isinstance(router.policy, AgreementPolicy | SimilarityPolicy):
        msg = "calibrate() sets a built-in policy's thresholds: construct the router with route='agreement' or 'similarity' (or a policy object), not a callable"
        raise InvalidParameterError(msg, name="route", value=router.policy)
    if isinstance(inputs, Mapping | str) or not hasattr(inputs, "__iter__"):
        msg = f"calibrate() takes a list of input dicts, got {preview(inputs)}"
        raise InvalidParameterError(msg, name="inputs", value=inputs)
    items = list(inputs)
    if not items:
        msg = "calibrate() needs at least one development input"
        raise InvalidParameterError(msg, name="inputs", value=items)
    return items


def _families(router: TeacherStudentRouter) -> list[int]:
    policy = router.policy
    assert isinstance(policy, AgreementPolicy | SimilarityPolicy)
    k = getattr(router.selector, "k", None)
    available = k if isinstance(k, int) and k > 0 else 4
    return policy.families(available)


def _finish(
    router: TeacherStudentRouter,
    records: list[_Record],
    *,
    families: list[int],
    target: float,
    confidence: float | None,
    counts: dict[str, int],
    metric: MetricFn,
) -> CalibrationReport:
    policy = router.policy
    assert isinstance(policy, AgreementPolicy | SimilarityPolicy)
    n = len(records)
    points: list[CalibrationPoint] = []
    for family in families:
        signals = [r.signals.get(family, -math.inf) for r in records]
        agrees = [r.agrees for r in records]
        for threshold, students, disagreements in sweep(signals, agrees):
            points.append(
                CalibrationPoint(
                    family=family,
                    threshold=threshold,
                    student_share=students / n,
                    agreement=1.0 - disagreements / n,
                    students=students,
                    disagreements=disagreements,
                    agreement_lower=(
                        1.0
                        if students == 0 or confidence is None
                        else wilson_lower(n - disagreements, n, confidence)
                    ),
                )
            )
    if confidence is None:
        feasible = [p for p in points if p.agreement >= target]
    else:
        feasible = [p for p in points if p.agreement_lower >= target]
    # largest share; then highest agreement; then the stricter setting
    chosen = max(feasible, key=lambda p: (p.students, p.agreement, p.family, p.threshold))
    policy.apply(chosen.family, chosen.threshold)
    settings = policy.model_dump(exclude={"agree"})
    return CalibrationReport(
        target=float(target),
        confidence=confidence,
        n=n,
        chosen=chosen,
        points=points,
        settings=settings,
        metric_name=getattr(metric, "__name__", type(metric).__name__),
        teacher_calls=counts["teacher_calls"],
        student_calls=counts["student_calls"],
        student_failures=counts["student_failures"],
        learned=counts["learned"],
    )


def _route_config(config: RunnableConfig, route: str) -> RunnableConfig:
    child = patch_config(config, run_name=route)
    child["tags"] = [*child.get("tags", []), "calibrate", f"route:{route}"]
    child["metadata"] = {**child.get("metadata", {}), "route": route}
    return child


class Calibration:
    """One calibration: its bookkeeping and its steps (no I/O: a driver makes the calls)."""

    def __init__(
        self,
        router: TeacherStudentRouter,
        inputs: Any,
        target: Any,
        metric: MetricFn | None,
        confidence: Any,
        *,
        learn: bool | None,
        config: RunnableConfig | None,
    ) -> None:
        self.items = _check(router, inputs, target, metric, confidence)
        policy = router.policy
        assert isinstance(policy, AgreementPolicy | SimilarityPolicy)
        self.router, self.policy = router, policy
        self.target, self.confidence = float(target), confidence
        self.metric: MetricFn = metric or exact_match
        self.learn = router.learn if learn is None else learn
        self.student_config = _route_config(ensure_config(config), "student")
        self.teacher_config = _route_config(ensure_config(config), "teacher")
        self.families = _families(router)
        self.records: list[_Record] = []
        self.counts = {"teacher_calls": 0, "student_calls": 0, "student_failures": 0, "learned": 0}

    def signals(self, scored: ScoredExamples) -> dict[int, float]:
        """Each family's signal; the student is asked when one is finite."""
        out = {f: self.policy.signal(scored, self.router.output_key, f) for f in self.families}
        if any(math.isfinite(v) for v in out.values()):
            self.counts["student_calls"] += 1
        return out

    def student_answer(self, output: Any) -> str | None:
        """The student's answer (``None``: it failed, so the router would ask the teacher)."""
        if isinstance(output, Exception):
            self.counts["student_failures"] += 1
            return None
        try:
            return answer_text(output, route="student", non_text=self.router.non_text)
        except AnswerFormatError:
            self.counts["student_failures"] += 1
            return None

    def teacher_answer(self, output: Any, query: dict[str, Any]) -> str:
        """The teacher's answer (a failure raises :class:`TeacherError`)."""
        self.counts["teacher_calls"] += 1
        if isinstance(output, Exception):
            msg = f"the teacher failed on input {preview(query)} while calibrating: {type(output).__name__}: {output}"
            raise TeacherError(msg, input=query) from output
        return answer_text(output, route="teacher", non_text=self.router.non_text, inputs=query)

    def record(self, signals: dict[int, float], student: str | None, teacher: str) -> None:
        agrees = student is None or bool(self.metric(student, teacher))
        self.records.append(_Record(signals, agrees))

    def learned(self, outcome: str) -> None:
        if outcome == "learned":
            self.counts["learned"] += 1

    def finish(self) -> CalibrationReport:
        return _finish(
            self.router,
            self.records,
            families=self.families,
            target=self.target,
            confidence=self.confidence,
            counts=self.counts,
            metric=self.metric,
        )

    def steps(self) -> Generator[Call, Any, CalibrationReport]:
        """The calibration, sans I/O: selector, model and store calls are the requests."""
        for item in self.items:
            keys, query, scored = yield from self.router._preparing(item)
            signals = self.signals(scored)
            student: str | None = None
            if any(math.isfinite(v) for v in signals.values()):
                try:
                    model = self.router._student_runnable(keys)
                    student_input = self.router._student_input(item, scored)
                    output = yield Call.invoke(model, student_input, self.student_config)
                except Exception as exc:  # the router would ask the teacher
                    output = exc
                student = self.student_answer(output)
            try:
                output = yield Call.invoke(self.router.teacher, item, self.teacher_config)
            except Exception as exc:
                output = exc
            teacher = self.teacher_answer(output, query)
            self.record(signals, student, teacher)
            if self.learn:
                self.learned((yield self.router._learning(query, teacher, scored)))
        return self.finish()

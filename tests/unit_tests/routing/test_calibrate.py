"""calibrate(): the issue's semantics, the sweep against brute force, and the report."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.runnables import RunnableLambda

from langchain_niche import (
    AgreementPolicy,
    InvalidParameterError,
    JaccardExampleSelector,
    SimilarityPolicy,
    TeacherStudentRouter,
)
from langchain_niche.routing import sweep
from langchain_niche.routing.calibrate import wilson_lower


def corpus(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Inputs from 4 classes; each has its own words plus shared noise words."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.randrange(4)
        words = [f"c{label}w{rng.randrange(6)}" for _ in range(2)]
        words += [f"noise{rng.randrange(12)}" for _ in range(3)]
        out.append({"q": " ".join(words), "gold": f"L{label}"})
    return out


def gold(x: dict[str, Any]) -> str:
    return x["q"].split()[0][:2].replace("c", "L")


def majority(x: dict[str, Any]) -> str:
    answers = [e["output"] for e in x["examples"]] or ["?"]
    return max(answers, key=answers.count)


class Counting:
    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.inputs: list[str] = []

    def __call__(self, x: dict[str, Any]) -> str:
        self.inputs.append(x["q"])
        return str(self.fn(x))


def router_for(
    route: Any = "agreement", student: Any = majority, **kwargs: Any
) -> TeacherStudentRouter:
    return TeacherStudentRouter(
        teacher=RunnableLambda(Counting(gold)),
        student=RunnableLambda(student),
        selector=JaccardExampleSelector(k=4, input_keys=["q"]),
        input_keys=["q"],
        route=route,
        **kwargs,
    )


def test_calibrate_chooses_the_largest_share_meeting_the_target() -> None:
    router = router_for()
    report = router.calibrate([{"q": x["q"]} for x in corpus(300)], target=0.95)
    assert report.n == 300
    assert report.chosen.agreement_lower >= 0.95
    assert report.chosen.students > 0
    best = max(p.students for p in report.points if p.agreement_lower >= 0.95)
    assert report.chosen.students == best
    for point in report.points:  # the bound is the Wilson bound of the sample agreement
        if point.students:
            assert point.agreement_lower == wilson_lower(300 - point.disagreements, 300, 0.95)
    # the policy now has the chosen settings
    policy = router.policy
    assert isinstance(policy, AgreementPolicy)
    assert (policy.min_examples, policy.min_score) == (
        report.chosen.family,
        report.chosen.threshold,
    )
    assert report.settings["min_examples"] == report.chosen.family
    # every input was answered by the teacher and learned (all inputs differ here)
    assert report.teacher_calls == 300
    assert report.learned == len(router.selector)


def test_the_teacher_answers_everything_and_the_student_only_where_it_could_be_routed() -> None:
    teacher, student = Counting(gold), Counting(majority)
    router = TeacherStudentRouter(
        teacher=RunnableLambda(teacher),
        student=RunnableLambda(student),
        selector=JaccardExampleSelector(k=4, input_keys=["q"]),
        route=SimilarityPolicy(),
    )
    inputs = [{"q": x["q"]} for x in corpus(50)]
    report = router.calibrate(inputs)
    assert teacher.inputs == [x["q"] for x in inputs]  # in stream order
    assert inputs[0]["q"] not in student.inputs  # empty store: nothing to route to
    assert report.student_calls == len(student.inputs) < 50


def test_teacher_routed_inputs_count_as_agreeing() -> None:
    router = router_for(student=lambda x: "always wrong")
    report = router.calibrate([{"q": x["q"]} for x in corpus(100)], target=0.95)
    # sending anything to this student costs agreement: the share falls to what the
    # target allows, and an all-teacher setting (agreement 1.0) is always available
    assert report.chosen.agreement >= 0.95
    assert report.chosen.student_share <= 0.05 + 1e-9
    assert all(p.agreement == pytest.approx(1 - p.students / 100) for p in report.points)
    strict = router_for(student=lambda x: "always wrong")  # target 1.0: no student at all
    report = strict.calibrate([{"q": x["q"]} for x in corpus(100)], target=1.0)
    assert report.chosen.students == 0
    assert not report.met
    assert math.isinf(strict.policy.min_score)  # type: ignore[union-attr]
    strict.invoke({"q": "c1w1 c1w2 c1w3"})
    assert strict.stats.teacher.calls == 1


def test_a_perfect_student_gets_the_largest_share() -> None:
    router = router_for(route=SimilarityPolicy())
    report = router.calibrate(
        [{"q": x["q"]} for x in corpus(100)], target=0.95, metric=lambda a, b: True
    )
    assert report.chosen.students == report.student_calls
    assert report.metric_name == "<lambda>"


def test_student_failures_count_as_agreeing() -> None:
    def broken(x: dict[str, Any]) -> str:
        raise RuntimeError("down")

    router = router_for(student=broken)
    report = router.calibrate([{"q": x["q"]} for x in corpus(60)], target=1.0, confidence=None)
    assert report.student_failures == report.student_calls > 0
    assert report.chosen.agreement == 1.0
    assert report.chosen.students == report.student_calls


async def test_acalibrate_matches_calibrate() -> None:
    inputs = [{"q": x["q"]} for x in corpus(120, seed=3)]
    sync_report = router_for().calibrate(inputs)
    async_report = await router_for().acalibrate(inputs)
    assert async_report.points == sync_report.points
    assert async_report.chosen == sync_report.chosen


def test_calibrate_without_learning_leaves_the_store_alone() -> None:
    router = router_for()
    router.calibrate([{"q": x["q"]} for x in corpus(20)], learn=False)
    assert len(router.selector) == 0


def test_the_curve_has_the_best_agreement_at_each_share() -> None:
    report = router_for().calibrate([{"q": x["q"]} for x in corpus(200)])
    curve = report.curve()
    shares = [s for s, _ in curve]
    assert shares == sorted(set(shares))
    assert curve[0] == (0.0, 1.0)
    best = dict(curve)
    for point in report.points:
        assert best[point.student_share] >= point.agreement
    assert len(report.to_rows()) == len(report.points)
    # the sweep spans settings that trade agreement for share
    assert min(a for _, a in curve) < report.target <= max(a for _, a in curve)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"target": 0.0}, "target"),
        ({"target": 1.5}, "target"),
        ({"target": True}, "target"),
        ({"metric": 3}, "metric"),
    ],
)
def test_bad_calibration_arguments(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        router_for().calibrate([{"q": "a"}], **kwargs)
    assert info.value.name == name


def test_calibrate_needs_inputs_and_a_builtin_policy() -> None:
    with pytest.raises(InvalidParameterError, match="at least one"):
        router_for().calibrate([])
    with pytest.raises(InvalidParameterError, match="list of input dicts"):
        router_for().calibrate({"q": "a"})  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="built-in policy"):
        router_for(route=lambda scored: "teacher").calibrate([{"q": "a"}])


signals_and_agrees = st.lists(
    st.tuples(
        st.one_of(st.just(-math.inf), st.sampled_from([0.1, 0.2, 0.5, 0.7, 1.0])), st.booleans()
    ),
    max_size=40,
)


@given(signals_and_agrees)
def test_sweep_matches_brute_force(pairs: list[tuple[float, bool]]) -> None:
    signals = [s for s, _ in pairs]
    agrees = [a for _, a in pairs]
    points = sweep(signals, agrees)
    assert points[0] == (math.inf, 0, 0)
    finite = sorted({s for s in signals if math.isfinite(s)}, reverse=True)
    assert [t for t, _, _ in points[1:]] == finite
    for threshold, students, disagreements in points:
        routed = [i for i, s in enumerate(signals) if s >= threshold]
        assert students == len(routed)
        assert disagreements == sum(1 for i in routed if not agrees[i])


def test_sweep_rejects_mismatched_lengths() -> None:
    with pytest.raises(InvalidParameterError):
        sweep([0.1, 0.2], [True])


def test_the_confidence_bound_is_stricter_than_the_sample() -> None:
    inputs = [{"q": x["q"]} for x in corpus(300, seed=5)]
    sample = router_for().calibrate(inputs, confidence=None)
    bounded = router_for().calibrate(inputs)  # confidence=0.95
    assert bounded.confidence == 0.95
    assert sample.confidence is None
    assert bounded.chosen.students <= sample.chosen.students
    assert bounded.chosen.agreement_lower >= 0.95
    assert sample.chosen.agreement >= 0.95
    # the same sweep either way: only the choice differs
    assert [(p.family, p.threshold, p.students) for p in bounded.points] == [
        (p.family, p.threshold, p.students) for p in sample.points
    ]


def test_too_few_development_inputs_cannot_certify_a_student_share() -> None:
    # with 40 inputs even zero disagreements do not bound agreement above 0.95
    router = router_for(route=SimilarityPolicy())
    report = router.calibrate([{"q": x["q"]} for x in corpus(40)], metric=lambda a, b: True)
    assert report.chosen.students == 0
    assert not report.met


@given(st.integers(1, 2000), st.data())
def test_wilson_lower_bound_is_below_the_proportion(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    low = wilson_lower(k, n, 0.95)
    assert 0.0 <= low <= k / n + 1e-12
    assert wilson_lower(k, n, 0.99) <= low + 1e-12
    assert wilson_lower(2 * k, 2 * n, 0.95) >= low - 1e-12  # more evidence, tighter bound

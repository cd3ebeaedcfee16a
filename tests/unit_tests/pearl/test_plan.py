"""The plan language: grammar, validation errors, dependency graph, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from langchain_niche.pearl import (
    DEFAULT_ACTIONS,
    Argument,
    Plan,
    PlanParseError,
    PlanStep,
    parse_plan,
)

ISSUE_EXAMPLE = """New actions:
- None

1. mayor = FIND_X(CTX, "the mayor") : who the mayor is
2. city = SUMMARIZE_X(CTX, "the city's finances")
3. reasons = FIND_REASON(CTX, "why the mayor, a lawyer, resigned") : find the stated reasons
4. ans = CONCAT(mayor, reasons) : combine
"""


def test_issue_example_parses_with_quoted_commas() -> None:
    plan = parse_plan(ISSUE_EXAMPLE, DEFAULT_ACTIONS)
    reasons = plan.step("reasons")
    assert reasons.action == "FIND_REASON"
    assert reasons.arguments == (
        Argument(kind="context", value="CTX"),
        Argument(kind="string", value="why the mayor, a lawyer, resigned"),
    )
    assert reasons.description == "find the stated reasons"
    assert reasons.line == 6
    assert plan.step("city").description == ""
    assert plan.variables == ["mayor", "city", "reasons", "ans"]
    assert plan.text == ISSUE_EXAMPLE


def test_strings_keep_colons_escaped_quotes_and_parentheses() -> None:
    text = r'1. a = FIND_X(CTX, "he said \"go: now\" (twice), C:\\dir") : note: colons here too'
    step = parse_plan(text, DEFAULT_ACTIONS).steps[0]
    assert step.arguments[1].value == 'he said "go: now" (twice), C:\\dir'
    assert step.description == "note: colons here too"


def test_curly_quotes_are_strings_too() -> None:
    step = parse_plan(
        '1. a = FIND_X(CTX, \u201cthe "space" cafard, a: b\u201d)', DEFAULT_ACTIONS
    ).steps[0]
    assert step.arguments[1].value == 'the "space" cafard, a: b'


def test_new_actions_block_declares_actions_for_this_plan() -> None:
    text = """New actions:
- COUNT_X(CTX, X) : Count how many times X occurs.
- PREDICT(CTX, X, Y) : Predict X given Y.

1. events = FIND_EVENTS(CTX, "Critten being a Nilly")
2. n = COUNT_X(CTX, events) : count them
3. p = PREDICT(CTX, "the future", n)
"""
    plan = parse_plan(text, DEFAULT_ACTIONS)
    assert [a.name for a in plan.new_actions] == ["COUNT_X", "PREDICT"]
    assert plan.action(plan.step("n")).description == "Count how many times X occurs."
    assert set(plan.definitions) == {"FIND_EVENTS", "COUNT_X", "PREDICT"}
    assert "COUNT_X" not in DEFAULT_ACTIONS  # declarations never leak into the shared set


def test_tolerated_wrappers_code_fences_headers_and_none_variants() -> None:
    text = """```
New actions: None
Plan:
1) a = find_x(CTX, "x")
Step 2: b = SUMMARIZE(CTX)
```"""
    plan = parse_plan(text, DEFAULT_ACTIONS)
    assert [s.action for s in plan.steps] == ["FIND_X", "SUMMARIZE"]
    assert [s.number for s in plan.steps] == [1, 2]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('1. a = FIND_ZZ(CTX, "x")', 1, "unknown action FIND_ZZ"),
        ("1. a = FIND_X(CTX)", 1, "takes exactly 2 arguments, got 1"),
        ('1. a = FIND_X("x", CTX)', 1, "must be CTX"),
        ("1. a = FIND_X(CTX, b)\n2. b = SUMMARIZE(CTX)", 1, "used before it is defined (line 2"),
        ("1. a = FIND_X(CTX, zz)", 1, "'zz' of FIND_X is not defined"),
        ("1. a = FIND_X(CTX, a)", 1, "uses its own output"),
        ("1. a = SUMMARIZE(CTX)\n\n2. a = FIND_MORAL(CTX)", 3, "already used on line 1"),
        ('1. a = FIND_X(CTX, "x)', 1, "no closing quote"),
        ('1. a = FIND_X(CTX, "x"', 1, "no closing ')'"),
        ("1. a = FIND_X(CTX, the mayor)", 1, "expected ',' or ')'"),
        ("1. a = FIND_X(CTX, 'x')", 1, "single quotes"),
        ("1. a = FIND_X(CTX, SUMMARIZE(CTX))", 1, "nested call"),
        ("1. a = CONCAT(CTX)", 1, "CONCAT joins step outputs"),
        ('1. a = COMPARE(CTX, "x")', 1, "does not take the document"),
        ("1. CTX = SUMMARIZE(CTX)", 1, "CTX is the document"),
        ("1. a SUMMARIZE(CTX)", 1, "expected '='"),
        ("1. a = SUMMARIZE CTX", 1, "expected '('"),
        ("1. a = SUMMARIZE(CTX) and more", 1, "unexpected text after"),
        ("1. a = SUMMARIZE(CTX)\nThis plan is great.", 2, "expected a numbered step"),
        ("1. a = SUMMARIZE(CTX)\nNew actions:\n- X(CTX) : y", 2, "must come before"),
        (
            "New actions:\n- FIND_X(CTX) : other\n1. a = SUMMARIZE(CTX)",
            2,
            "already exists as FIND_X(CTX, X)",
        ),
        ("New actions:\n- A(CTX) : x\n- A(CTX) : y\n1. a = A(CTX)", 3, "declared twice"),
        ("New actions:\n- broken\n1. a = SUMMARIZE(CTX)", 2, "invalid new action"),
    ],
)
def test_invalid_plans_name_the_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(PlanParseError) as info:
        parse_plan(text, DEFAULT_ACTIONS)
    assert info.value.line == line
    assert reason in str(info.value)
    assert str(info.value).startswith(f"line {line}: ")
    assert isinstance(info.value, ValueError)


def test_unknown_action_suggests_close_names() -> None:
    with pytest.raises(PlanParseError, match="did you mean FIND_REASON"):
        parse_plan('1. a = FIND_REASONS(CTX, "x")', DEFAULT_ACTIONS)


@pytest.mark.parametrize("text", ["", "   \n\n", "Plan:\n```\n```", "New actions:\n- None"])
def test_plans_without_steps_are_rejected(text: str) -> None:
    with pytest.raises(PlanParseError, match="no steps") as info:
        parse_plan(text, DEFAULT_ACTIONS)
    assert info.value.line is None


def test_max_steps() -> None:
    text = "\n".join(f"{i}. s{i} = SUMMARIZE(CTX)" for i in range(1, 6))
    assert len(parse_plan(text, DEFAULT_ACTIONS, max_steps=5)) == 5
    with pytest.raises(PlanParseError, match="at most 4"):
        parse_plan(text, DEFAULT_ACTIONS, max_steps=4)


def test_non_text_is_rejected_with_plan_parse_error() -> None:
    with pytest.raises(PlanParseError, match="must be text"):
        parse_plan(None, DEFAULT_ACTIONS)  # type: ignore[arg-type]


def test_dependency_graph_levels_depth_and_final_steps() -> None:
    text = """1. a = SUMMARIZE(CTX)
2. b = FIND_X(CTX, "b")
3. c = FIND_RELATION(CTX, a, b)
4. d = FIND_MORAL(CTX)
5. e = CONCAT(c, a)
6. f = EVALUATE("claim", e)"""
    plan = parse_plan(text, DEFAULT_ACTIONS)
    assert plan.levels() == [["a", "b", "d"], ["c"], ["e"], ["f"]]
    assert plan.depth == 4
    assert [s.variable for s in plan.final_steps()] == ["d", "f"]
    assert "a" not in [s.variable for s in plan.final_steps()]  # c and e read it
    assert plan.step("e").dependencies == ("c", "a")


def test_render_round_trips_and_renumbers() -> None:
    plan = parse_plan(ISSUE_EXAMPLE.replace("1. mayor", "7. mayor"), DEFAULT_ACTIONS)
    again = parse_plan(plan.render(), DEFAULT_ACTIONS)
    assert [s.model_copy(update={"line": 0, "number": 0}) for s in again.steps] == [
        s.model_copy(update={"line": 0, "number": 0}) for s in plan.steps
    ]
    assert again.render().splitlines()[0].startswith("1. mayor")


def test_plans_serialize_to_json() -> None:
    plan = parse_plan(ISSUE_EXAMPLE, DEFAULT_ACTIONS)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


# -- property tests -----------------------------------------------------------------------------

PLANISH = st.sampled_from(
    [
        "1.",
        "2)",
        " = ",
        "CTX",
        "CONCAT",
        "FIND_X",
        "SUMMARIZE",
        "(",
        ")",
        ",",
        '"',
        "\\",
        ":",
        "\n",
        "New actions:",
        "- None",
        "- FOO(CTX, X) : d",
        "a",
        "b",
        "...",
        "“",
        "”",
        "'",
        "Step 3:",
        "```",
        " ",
        "#",
        "\t",
        "=",
        "CTX)",
        '"x, y"',
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_random_text_only_plans_or_parse_errors(text: str) -> None:
    try:
        plan = parse_plan(text, DEFAULT_ACTIONS)
    except PlanParseError:
        return
    assert isinstance(plan, Plan)
    assert plan.steps


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PLANISH, max_size=40).map("".join))
def test_fuzz_plan_like_text_only_plans_or_parse_errors(text: str) -> None:
    try:
        plan = parse_plan(text, DEFAULT_ACTIONS)
    except PlanParseError as error:
        reason = error.reason
    else:
        assert isinstance(plan, Plan)
        return
    assert reason


_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n.upper() != "CTX")


@st.composite
def valid_plans(draw: st.DrawFn) -> list[PlanStep]:
    count = draw(st.integers(1, 6))
    names = draw(st.lists(_names, min_size=count, max_size=count, unique=True))
    steps = []
    for i, name in enumerate(names):
        earlier = names[:i]
        if earlier and draw(st.booleans()):
            args = tuple(
                Argument(kind="variable", value=v)
                for v in draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=3))
            )
            steps.append(PlanStep(number=i + 1, variable=name, action="CONCAT", arguments=args))
        else:
            literal = draw(st.text(st.characters(blacklist_categories=["Cs"]), max_size=30))
            steps.append(
                PlanStep(
                    number=i + 1,
                    variable=name,
                    action="FIND_X",
                    arguments=(
                        Argument(kind="context", value="CTX"),
                        Argument(kind="string", value=literal),
                    ),
                    description=draw(st.from_regex(r"[a-z ,:()\"]{0,20}", fullmatch=True)).strip(),
                )
            )
    return steps


@settings(max_examples=200, deadline=None)
@given(valid_plans())
def test_rendered_plans_parse_back_to_the_same_steps(steps: list[PlanStep]) -> None:
    text = "\n".join(step.render() for step in steps)
    parsed = parse_plan(text, DEFAULT_ACTIONS)
    assert [s.model_copy(update={"line": 0}) for s in parsed.steps] == steps

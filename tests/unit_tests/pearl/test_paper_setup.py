"""The PEARL paper's setup: CTX filled by an earlier output, planning without options,
the paper-structured prompts, action-set precedence, replaying a stored plan."""

from __future__ import annotations

import re
import warnings
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl import (
    DEFAULT_ACTIONS,
    DEFAULT_DEMONSTRATIONS,
    PEARL,
    SEED_ACTIONS,
    ActionFormatError,
    ActionSet,
    PlanParseError,
    mine_actions,
    parse_plan,
    refine_demonstrations,
)
from langchain_niche.pearl.prompts import STEP_SYSTEM, planning_messages, step_prompt
from langchain_niche.testing import ScriptedCall, ScriptedChatModel

from .script import calls_of, prompt_kind, scripted, step_calls

# The paper's example: a CTX action applied to an earlier step's output.
CTX_FROM_OUTPUT = """New actions:
- FIND_LEAST_DESCRIBING_WORD(CTX, X) : Find the word that least describes X in the given text.

1. classes = FIND_X(CTX, "words describing the security guard") : every word used for him
2. least_intense = FIND_LEAST_DESCRIBING_WORD(classes, "intense") : the word that fits least"""
DOC = "The guard was calm, patient and quiet. SECRET-DOCUMENT-MARKER"


# -- CTX slot filled by an earlier output ---------------------------------------------------------


def test_an_earlier_output_may_fill_the_ctx_slot() -> None:
    plan = parse_plan(CTX_FROM_OUTPUT, DEFAULT_ACTIONS)
    step = plan.step("least_intense")
    assert step.context_from == "classes"
    assert not step.takes_context
    assert step.reads_context
    assert plan.step("classes").context_from is None
    assert plan.levels() == [["classes"], ["least_intense"]]
    assert (
        parse_plan(plan.render(), DEFAULT_ACTIONS).step("least_intense").context_from == "classes"
    )


def test_a_string_in_the_ctx_slot_is_still_rejected() -> None:
    with pytest.raises(PlanParseError, match=r"must be CTX .* or the output of an earlier step"):
        parse_plan('1. a = FIND_X("the text", "x")', DEFAULT_ACTIONS)


@pytest.mark.parametrize("style", ["grounded", "paper"])
def test_the_step_prompt_holds_the_earlier_output_instead_of_the_document(style: str) -> None:
    model = scripted(
        CTX_FROM_OUTPUT, step=lambda v, p: "calm, patient, quiet" if v == "classes" else "x"
    )
    if style == "paper":  # paper-style step prompts name no step: route by description
        model = ScriptedChatModel(responder=_by_description({"every word": "calm, patient, quiet"}))
    result = PEARL(model, prompt_style=style).invoke({"question": "Which word?", "document": DOC})
    assert result.plan is not None
    steps = [c for c in model.calls if str(c.messages[0].text) == STEP_SYSTEM]
    assert len(steps) == 2
    second = steps[1].text
    assert "calm, patient, quiet" in second
    assert "SECRET-DOCUMENT-MARKER" not in second  # the document is not sent
    assert "SECRET-DOCUMENT-MARKER" in steps[0].text
    assert re.search(r"<input-[0-9a-f]+>\ncalm, patient, quiet\n</input-", second)


def _by_description(outputs: dict[str, str], plan: str = CTX_FROM_OUTPUT) -> Any:
    def respond(messages: list[BaseMessage], call: ScriptedCall) -> str:
        kind, _ = prompt_kind(messages)
        if kind == "plan":
            return plan
        if kind == "options":
            return "B"
        for cue, output in outputs.items():
            if f"({cue}" in call.text:
                return output
        return "nothing"

    return respond


# -- replaying a stored plan with stored step outputs ----------------------------------------------

STORED_PLAN = """New actions:
- None

1. traits = FIND_CHARACTER(CTX, "the security guard") : his character traits
2. words = FIND_X(CTX, "words that describe the security guard") : the words used for him
3. least = INFER(words, "which of these words describes him least") : the outlier word
4. ans = CONCAT(traits, least) : traits and the outlier word"""

STORED_OUTPUTS = {
    "his character traits": "Calm and patient; never raises his voice.",
    "the words used for him": "calm, patient, quiet, gentle",
    "the outlier word": "None of them is intense; 'quiet' fits best, 'intense' not at all.",
}


@pytest.mark.parametrize("use_async", [False, True])
async def test_replaying_a_stored_plan_reproduces_its_answer(use_async: bool) -> None:
    model = ScriptedChatModel(responder=_by_description(STORED_OUTPUTS, STORED_PLAN))
    pearl = PEARL(model, prompt_style="paper")
    data = {
        "question": "Which word doesn't describe the security guard?",
        "document": DOC,
        "options": ["calm", "intense", "patient", "quiet"],
    }
    result = await pearl.ainvoke(data) if use_async else pearl.invoke(data)
    expected_open = (
        "Calm and patient; never raises his voice.\n"
        "None of them is intense; 'quiet' fits best, 'intense' not at all."
    )
    assert result.open_answer == expected_open  # CONCAT of the final step's inputs, locally
    assert [s.output for s in result.steps[:3]] == list(STORED_OUTPUTS.values())
    assert result.steps[2].usage.model_calls == 1
    assert (result.option_label, result.answer) == ("B", "intense")
    option_prompt = calls_of(model, "options")[0].text
    assert expected_open in option_prompt


# -- the planner does not see the options ------------------------------------------------------


def test_refinement_shows_failed_plans_but_not_the_options_by_default() -> None:
    bad, good = '1. a = FIND_X(CTX, "weather")', '1. a = FIND_REASON(CTX, "resignation")'

    def respond(messages: list[BaseMessage], call: ScriptedCall) -> str:
        kind, _ = prompt_kind(messages)
        if kind == "plan":
            return good if "led to wrong answers" in call.text else bad
        if kind == "options":
            return "B" if "budget-reason" in call.text else "A"
        return "budget-reason" if "FIND_REASON" in call.text else "sunny"

    model = ScriptedChatModel(responder=respond)
    example = {
        "question": "Why did she resign?",
        "document": "She resigned over the budget.",
        "options": ["UNIQUE-OPTION-SUN", "UNIQUE-OPTION-BUDGET"],
        "answer": 1,
    }
    [demo] = refine_demonstrations(PEARL(model), [example], max_tries=2)
    assert demo.plan == good
    plans = calls_of(model, "plan")
    assert len(plans) == 2
    assert bad in plans[1].text
    assert not any("UNIQUE-OPTION" in c.text for c in plans)


# -- the paper-structured prompts --------------------------------------------------------------


def test_paper_step_prompts_have_no_question_and_no_grounding_rule() -> None:
    plan = parse_plan('1. r = FIND_REASON(CTX, "the resignation") : why she left', DEFAULT_ACTIONS)
    step, action = plan.steps[0], plan.action(plan.steps[0])
    question = "UNIQUE-QUESTION-TEXT?"
    paper = step_prompt(step, action, {}, question, DOC, tag="t", style="paper")
    text = "\n".join(str(m.text) for m in paper.messages())
    assert question not in text
    assert "use only" not in text.lower()
    assert (
        text.index("SECRET-DOCUMENT-MARKER") < text.index("[Instruction]") < text.index("[Answer]")
    )
    assert 'X = "the resignation"' in text
    assert "(why she left)" in text
    grounded = step_prompt(step, action, {}, question, DOC, tag="t")
    grounded_text = "\n".join(str(m.text) for m in grounded.messages())
    assert question in grounded_text
    assert "use only the information given" in grounded_text


def test_paper_planning_prompt_shows_examples_as_question_answer_pairs() -> None:
    demos = [(d.question, d.plan) for d in DEFAULT_DEMONSTRATIONS[:2]]
    messages = planning_messages(DEFAULT_ACTIONS, demos, "Why?", style="paper")
    text = str(messages[1].text)
    assert text.startswith("[Actions]\n- CONCAT(S1, S2, ...)")
    assert f'Question: "{demos[0][0]}"\nAnswer:\n' in text
    assert text.index("[Instructions]") < text.index("Question: ") < text.index("[Question]")
    assert "    Why?" in text
    assert text.rstrip().endswith("[Answer]")
    assert "Answer options" not in text
    with_options = planning_messages(
        DEFAULT_ACTIONS, demos, "Why?", options=["a", "b"], style="paper"
    )
    assert "A. a\nB. b" in str(with_options[1].text)


def test_paper_mining_prompt_has_two_worked_examples_and_reads_its_reply_format() -> None:
    reply = """My new actions (if any):
- COUNT_X(CTX, X) : Count how many times X happens.

My sequence of actions:
1. n = COUNT_X(CTX, "visits")
- NOT_AN_ACTION(CTX) : a list item inside the steps is not a declaration"""
    model = ScriptedChatModel(responses=[reply])
    actions = mine_actions(model, ["How many visits?"], prompt_style="paper")
    assert actions.names == [*SEED_ACTIONS.names, "COUNT_X"]
    text = model.calls[0].text
    assert text.count("Question:\n") == 2
    assert "My sequence of actions:" in text
    with pytest.raises(InvalidParameterError, match="prompt_style"):
        mine_actions(model, ["q?"], prompt_style="other")  # type: ignore[arg-type]


def test_prompt_style_is_validated() -> None:
    with pytest.raises(InvalidParameterError, match="prompt_style must be one of"):
        PEARL(ScriptedChatModel(responses=[]), prompt_style="faithful")
    with pytest.raises(InvalidParameterError, match="plan_with_options"):
        PEARL(ScriptedChatModel(responses=[]), plan_with_options="yes")


# -- action sets -----------------------------------------------------------------------------------

PAPER_COMPARE = "COMPARE(CTX, X, Y, Z) # Compare X and Y in the context of Z given the input CTX."


def test_union_keeps_the_left_side_and_says_so() -> None:
    paper = ActionSet.from_text(PAPER_COMPARE)
    with pytest.warns(UserWarning, match=r"kept COMPARE\(X, Y\) \(not COMPARE\(CTX, X, Y, Z\)\)"):
        ours_first = DEFAULT_ACTIONS | paper
    assert ours_first["COMPARE"].parameters == ("X", "Y")
    with pytest.warns(UserWarning, match=r"kept COMPARE\(CTX, X, Y, Z\)"):
        paper_first = paper | DEFAULT_ACTIONS
    assert paper_first["COMPARE"].parameters == ("CTX", "X", "Y", "Z")
    replaced = DEFAULT_ACTIONS.merge(paper, on_conflict="replace")
    assert replaced["COMPARE"].parameters == ("CTX", "X", "Y", "Z")
    assert replaced.names == DEFAULT_ACTIONS.names  # a replaced action keeps its place
    with pytest.raises(InvalidParameterError, match="define COMPARE differently"):
        DEFAULT_ACTIONS.merge(paper, on_conflict="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (DEFAULT_ACTIONS | SEED_ACTIONS) == DEFAULT_ACTIONS  # identical: no warning


def test_a_repeated_action_name_in_a_file_fails_naming_the_line_or_keeps_the_first() -> None:
    text = (
        "FIND_RELATION(CTX, X, Y) # Find the relation between X and Y given the input CTX.\n"
        "\n"
        "SUMMARIZE(CTX) # Provides a general summary about the given CTX.\n"
        "FIND_RELATION(CTX, X) # Find every relation of X given the input CTX.\n"
    )
    with pytest.raises(
        ActionFormatError, match=r"paper\.txt, line 4: FIND_RELATION is already defined on line 1"
    ):
        ActionSet.from_text(text, source="paper.txt")
    with pytest.warns(UserWarning, match="line 4: FIND_RELATION .* keeping the first"):
        actions = ActionSet.from_text(text, duplicates="first")
    assert actions.names == ["FIND_RELATION", "SUMMARIZE"]
    assert actions["FIND_RELATION"].parameters == ("CTX", "X", "Y")
    with pytest.raises(ActionFormatError, match="line 2"):
        ActionSet.from_text("SUMMARIZE(CTX) # ok\nnot an action\n")


def test_loading_an_action_file_from_disk(tmp_path: Any) -> None:
    path = tmp_path / "actions.txt"
    path.write_text(PAPER_COMPARE + "\nFIND_MORAL(CTX) # Find the moral of the input CTX.\n")
    assert ActionSet.load_text(path).names == ["COMPARE", "FIND_MORAL"]


def test_default_demonstrations_use_only_declared_actions() -> None:
    for demo in DEFAULT_DEMONSTRATIONS:
        plan = parse_plan(demo.plan, DEFAULT_ACTIONS)
        declared = {a.name for a in plan.new_actions}
        for step in plan.steps:
            assert step.action in DEFAULT_ACTIONS or step.action in declared, (demo.question, step)
        assert not declared & set(DEFAULT_ACTIONS.names), demo.question  # no redefinitions


def test_default_demonstrations_parse_in_both_prompt_styles() -> None:
    for style in ("grounded", "paper"):
        pearl = PEARL(ScriptedChatModel(responses=[]), prompt_style=style)
        assert len(pearl.demonstrations) == len(DEFAULT_DEMONSTRATIONS)


def test_step_calls_helper_still_routes_grounded_steps() -> None:
    model = scripted(CTX_FROM_OUTPUT)
    PEARL(model).invoke({"question": "q?", "document": DOC})
    assert len(step_calls(model, "least_intense")) == 1

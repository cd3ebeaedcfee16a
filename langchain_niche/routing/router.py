"""`TeacherStudentRouter`: a cheap student answers with the teacher's past answers as examples."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    BaseCallbackManager,
    CallbackManagerForChainRun,
)
from langchain_core.language_models import BaseLanguageModel
from langchain_core.prompts import (
    BasePromptTemplate,
    ChatPromptTemplate,
)
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableSerializable,
)
from langchain_core.runnables.config import patch_config
from pydantic import ConfigDict, Field, PrivateAttr

from langchain_niche._sansio import Call, arun_calls, run_calls
from langchain_niche._validation import require_integer_at_least
from langchain_niche.errors import InvalidParameterError, preview
from langchain_niche.routing.answers import (
    EXAMPLES_VAR,
    NonText,
    answer_text,
    input_fields,
    query_of,
)
from langchain_niche.routing.calibrate import Calibration, CalibrationReport
from langchain_niche.routing.costs import (
    Price,
    RouterStats,
    StatsRecorder,
    Usage,
    UsageRecorder,
    check_prices,
    message_usage,
)
from langchain_niche.routing.errors import AnswerFormatError, TeacherError
from langchain_niche.routing.policies import (
    AgreementPolicy,
    RouteDecision,
    ScoredExamples,
    SimilarityPolicy,
)
from langchain_niche.routing.prompt import DEFAULT_SYSTEM_PROMPT, default_student_prompt
from langchain_niche.routing.store import (
    AcceptFn,
    ExampleWriter,
    check_selector,
    stored_examples_checked,
)

__all__ = ["DEFAULT_SYSTEM_PROMPT", "RouteFn", "TeacherStudentRouter", "default_student_prompt"]

logger = logging.getLogger(__name__)

RouteFn = Callable[[list[tuple[dict[str, Any], float]]], str]
_Prepared = tuple[list[str], dict[str, Any], list[tuple[dict[str, Any], float]]]
"""An input's compared fields, its query and the retrieved examples with scores."""
"""A custom policy: receives ``select_examples_with_scores`` and returns ``"student"`` or ``"teacher"``."""


def _as_runnable(name: str, value: Any) -> Runnable[Any, Any]:
    if isinstance(value, Runnable):
        return value
    if callable(value):
        return RunnableLambda(value, name=name)
    msg = f"{name} must be a Runnable (a chat model, a chain) or a callable, got {type(value).__name__} {preview(value)}"
    raise InvalidParameterError(msg, name=name, value=value)


def _policy_for(route: Any, agree: Any) -> AgreementPolicy | SimilarityPolicy | RouteFn:
    if agree is not None:
        if route != "agreement":
            msg = f"agree= configures route='agreement'; with route={preview(route)} set it on the policy (AgreementPolicy(agree=...))"
            raise InvalidParameterError(msg, name="agree", value=agree)
        if not callable(agree):
            msg = f"agree must be a callable (answer, answer) -> bool, got {preview(agree)}"
            raise InvalidParameterError(msg, name="agree", value=agree)
        return AgreementPolicy(agree=agree)
    if route == "agreement":
        return AgreementPolicy()
    if route == "similarity":
        return SimilarityPolicy()
    if isinstance(route, AgreementPolicy | SimilarityPolicy):
        return route
    if callable(route) and not isinstance(route, str):
        return route  # type: ignore[no-any-return]
    msg = f"route must be 'agreement', 'similarity', a policy object or a callable (scored examples) -> 'student' | 'teacher', got {preview(route)}"
    raise InvalidParameterError(msg, name="route", value=route)


class TeacherStudentRouter(RunnableSerializable[dict[str, Any], str]):
    """Answer with a cheap student and the teacher's past answers; ask the teacher when needed.

    For each input the selector retrieves the most similar stored examples (past
    teacher answers, ``{**inputs, output_key: answer}``); the routing policy looks
    at them and sends the input to the **student** (with those examples in its
    prompt) or to the **teacher**. With ``learn=True`` each teacher answer becomes
    an example, so the student covers more inputs as traffic flows.

    * ``student``: a chat model (the router builds a few-shot prompt with
      ``FewShotChatMessagePromptTemplate``; ``student_prompt`` overrides it) or any
      Runnable taking ``{**inputs, "examples": [...]}``.
    * The output is the answer text (``str``); other outputs become JSON or are
      rejected (``non_text``).
    * The run tree shows a ``route`` child run (the decision, its reason, the
      scores), then a ``student`` or ``teacher`` child run tagged ``route:student``
      / ``route:teacher`` with ``metadata["route"]``.
    * A student that raises falls back to the teacher; a teacher that raises
      raises :class:`~langchain_niche.routing.TeacherError` naming the input, and
      nothing is stored.
    * ``stats``: calls, tokens and cost per route (from ``usage_metadata`` and
      ``prices``) and the all-teacher cost estimate; safe under threads and asyncio.

    Example:
        ```python
        from langchain_core.runnables import RunnableLambda
        from langchain_niche import JaccardExampleSelector, TeacherStudentRouter

        teacher = RunnableLambda(lambda x: x["q"].split()[-1].upper())  # the expensive model
        student = RunnableLambda(lambda x: x["examples"][0]["output"])  # answers from examples
        router = TeacherStudentRouter(
            teacher=teacher,
            student=student,
            selector=JaccardExampleSelector(k=3, input_keys=["q"]),
            route="similarity",
        )
        router.invoke({"q": "capital of france"})  # 'FRANCE' (teacher; now stored)
        router.invoke({"q": "the capital of france"})  # 'FRANCE' (student)
        router.stats.teacher_share  # 0.5
        ```
    """

    teacher: Runnable[Any, Any]
    """Answers the input dict (a prompt | chat model chain, any Runnable)."""
    student: Runnable[Any, Any]
    """A chat model, or a Runnable taking ``{**inputs, "examples": [...]}``."""
    selector: Any
    """A selector holding ``{**inputs, output_key: answer}`` examples."""
    input_keys: list[str] | None = None
    """The input's compared (and stored) fields; ``None``: every field of the input."""
    output_key: str = "output"
    """The examples' answer field."""
    route: Any = "agreement"
    """``"agreement"``, ``"similarity"``, an :class:`AgreementPolicy` /
    :class:`SimilarityPolicy` with settings, or a callable ``(scored examples) ->
    "student" | "teacher"``."""
    agree: Callable[[Any, Any], bool] | None = None
    """With ``route="agreement"``: compares two stored answers (default: exact after
    ``normalize_answer``); same as ``route=AgreementPolicy(agree=...)``."""
    learn: bool = True
    """Store teacher answers as examples."""
    accept: AcceptFn | None = None
    """``accept(input, answer) -> bool`` gates which teacher answers are stored."""
    prices: Mapping[str, Any] | None = None
    """USD per 1K input/output tokens per model name (see ``PriceTable``)."""
    student_prompt: BasePromptTemplate | None = None  # type: ignore[type-arg]
    """The chat-model student's prompt over ``{**inputs, "examples": [...]}``."""
    example_prompt: ChatPromptTemplate | None = None
    """How the default student prompt formats one example."""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    """The default student prompt's system message."""
    non_text: NonText = "json"
    """Answers that are not text: ``"json"`` (stored as JSON text) or ``"reject"``."""
    max_examples: int = Field(default=0, ge=0)
    """Examples given to the student (0: all the selector returned)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    _policy: Any = PrivateAttr()
    _prices: dict[str, Price] = PrivateAttr(default_factory=dict)
    _stats: StatsRecorder = PrivateAttr(default_factory=StatsRecorder)
    _writer: ExampleWriter = PrivateAttr()
    _prompts: dict[tuple[str, ...], Runnable[Any, Any]] = PrivateAttr(default_factory=dict)
    _route_step: Runnable[Any, Any] = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        for name in ("teacher", "student"):
            if name not in data:
                msg = f"TeacherStudentRouter needs {name}=..."
                raise InvalidParameterError(msg, name=name, value=None)
            data[name] = _as_runnable(name, data[name])
        output_key = data.get("output_key", "output")
        if not isinstance(output_key, str) or not output_key:
            msg = f"output_key must be a non-empty field name, got {preview(output_key)}"
            raise InvalidParameterError(msg, name="output_key", value=output_key)
        input_keys = data.get("input_keys")
        if input_keys is not None and (
            isinstance(input_keys, str)
            or not isinstance(input_keys, Sequence)
            or not input_keys
            or not all(isinstance(k, str) for k in input_keys)
            or output_key in input_keys
        ):
            msg = f"input_keys must be None or a non-empty list of field names without output_key {output_key!r}, got {preview(input_keys)}"
            raise InvalidParameterError(msg, name="input_keys", value=input_keys)
        if "selector" not in data:
            msg = "TeacherStudentRouter needs selector=... (e.g. JaccardExampleSelector)"
            raise InvalidParameterError(msg, name="selector", value=None)
        check_selector(data["selector"], output_key)
        policy = _policy_for(data.get("route", "agreement"), data.get("agree"))
        accept = data.get("accept")
        if accept is not None and not callable(accept):
            msg = (
                f"accept must be None or a callable (input, answer) -> bool, got {preview(accept)}"
            )
            raise InvalidParameterError(msg, name="accept", value=accept)
        non_text = data.get("non_text", "json")
        if non_text not in ("json", "reject"):
            msg = f"non_text must be 'json' or 'reject', got {preview(non_text)}"
            raise InvalidParameterError(msg, name="non_text", value=non_text)
        max_examples = data.get("max_examples", 0)
        require_integer_at_least("max_examples", max_examples, 0)
        prices = check_prices(data.get("prices"))
        super().__init__(**data)
        self._policy = policy
        self._prices = prices
        self._writer = ExampleWriter(self.selector, self.output_key, self.accept)
        self._route_step = RunnableLambda(self._route_sync, afunc=self._route_async, name="route")

    # -- public helpers ----------------------------------------------------------------
    @property
    def policy(self) -> AgreementPolicy | SimilarityPolicy | RouteFn:
        """The routing policy (calibration changes a built-in policy's settings)."""
        return self._policy  # type: ignore[no-any-return]

    @property
    def stats(self) -> RouterStats:
        """A snapshot of calls, tokens and cost per route since creation (or ``reset_stats``)."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Start counting from zero."""
        self._stats.reset()

    def decide(self, input: dict[str, Any]) -> RouteDecision:
        """Where the router would send an input now (no model is called).

        Args:
            input: The input dict.

        Returns:
            The decision with its reason and the retrieved scores.
        """
        _, _, scored = self._prepare(input)
        return self._decide(scored)

    def compared_fields(self, input: dict[str, Any]) -> list[str]:
        """The input's fields the selector compares and the store keeps."""
        return input_fields(input, self.input_keys, self.output_key)

    # -- routing ---------------------------------------------------------------------
    def _preparing(self, input: Any) -> Generator[Call, Any, _Prepared]:
        """An input's compared fields, its query and the examples retrieved for it (sans I/O)."""
        keys = input_fields(input, self.input_keys, self.output_key)
        query = query_of(input, keys)
        selector = self.selector
        scored = yield Call(
            selector.select_examples_with_scores, selector.aselect_examples_with_scores, (query,)
        )
        stored_examples_checked([example for example, _ in scored], self.output_key)
        return keys, query, scored

    def _prepare(self, input: Any) -> _Prepared:
        prepared: _Prepared = run_calls(self._preparing(input))
        return prepared

    def _decide(self, scored: ScoredExamples) -> RouteDecision:
        policy = self._policy
        if isinstance(policy, AgreementPolicy | SimilarityPolicy):
            return policy.decide(scored, self.output_key)
        route = policy(list(scored))
        if route not in ("student", "teacher"):
            msg = f"the route callable must return 'student' or 'teacher', got {preview(route)}"
            raise InvalidParameterError(msg, name="route", value=route)
        return RouteDecision(route, "custom policy", tuple(float(s) for _, s in scored))

    def _route_sync(self, input: dict[str, Any]) -> dict[str, Any]:
        routed: dict[str, Any] = run_calls(self._routing(input))
        return routed

    async def _route_async(self, input: dict[str, Any]) -> dict[str, Any]:
        routed: dict[str, Any] = await arun_calls(self._routing(input))
        return routed

    def _routing(self, input: dict[str, Any]) -> Generator[Call, Any, dict[str, Any]]:
        keys, query, scored = yield from self._preparing(input)
        decision = self._decide(scored)
        return {
            "route": decision.route,
            "reason": decision.reason,
            "scores": list(decision.scores),
            "keys": keys,
            "query": query,
            "scored": scored,
        }

    # -- the two routes -----------------------------------------------------------------
    def _student_runnable(self, keys: list[str]) -> Runnable[Any, Any]:
        if not isinstance(self.student, BaseLanguageModel):
            return self.student
        cache_key = tuple(keys)
        chain = self._prompts.get(cache_key)
        if chain is None:
            prompt = self.student_prompt or default_student_prompt(
                keys,
                self.output_key,
                example_prompt=self.example_prompt,
                system_prompt=self.system_prompt,
            )
            chain = prompt | self.student
            self._prompts[cache_key] = chain
        return chain

    def _student_input(self, input: Mapping[str, Any], scored: ScoredExamples) -> dict[str, Any]:
        examples = [dict(example) for example, _ in scored]
        if self.max_examples:
            examples = examples[: self.max_examples]
        return {**input, EXAMPLES_VAR: examples}

    @staticmethod
    def _child(
        manager: BaseCallbackManager, config: RunnableConfig, route: str, recorder: UsageRecorder
    ) -> RunnableConfig:
        manager.add_tags([f"route:{route}"])
        manager.add_metadata({"route": route})
        manager.add_handler(recorder, inherit=True)
        return patch_config(config, callbacks=manager, run_name=route)

    def _usages(self, recorder: UsageRecorder, output: Any) -> list[Usage]:
        if recorder.usages:
            return list(recorder.usages)
        usage = message_usage(output)  # e.g. a Runnable returning an AIMessage it built
        return [usage] if usage is not None else []

    def _student_done(
        self, recorder: UsageRecorder, output: Any, query: dict[str, Any]
    ) -> str | None:
        """Book a student call; its answer, or ``None`` when it failed (the teacher answers)."""
        if not isinstance(output, Exception):
            try:
                answer = answer_text(output, route="student", non_text=self.non_text, inputs=query)
            except AnswerFormatError as exc:
                output = exc
            else:
                usages = self._usages(recorder, output)
                self._stats.add_usage("student", usages, self._prices, answered=True)
                return answer
        logger.warning("student failed on %s, asking the teacher: %r", preview(query), output)
        self._stats.add_usage("student", recorder.usages, self._prices, answered=False)
        self._stats.count("student_failures")
        return None

    def _teacher_done(self, recorder: UsageRecorder, output: Any, query: dict[str, Any]) -> str:
        """Book a teacher call; its answer (a failure raises ``TeacherError``)."""
        if isinstance(output, Exception):
            self._stats.add_usage("teacher", recorder.usages, self._prices, answered=False)
            self._stats.count("teacher_failures")
            raise self._teacher_error(query, output) from output
        usages = self._usages(recorder, output)
        try:
            answer = answer_text(output, route="teacher", non_text=self.non_text, inputs=query)
        except AnswerFormatError:  # the tokens were spent all the same
            self._stats.add_usage("teacher", usages, self._prices, answered=False)
            raise
        self._stats.add_usage("teacher", usages, self._prices, answered=True)
        return answer

    def _answering(
        self,
        input: dict[str, Any],
        run_manager: CallbackManagerForChainRun | AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> Generator[Call, Any, str]:
        """Route, answer and learn one input (sans I/O: the model calls are requests)."""
        base = patch_config(config, callbacks=run_manager.get_child())
        routed = yield Call.invoke(self._route_step, input, patch_config(base, run_name="route"))
        keys, query, scored = routed["keys"], routed["query"], routed["scored"]
        if routed["route"] == "student":
            recorder = UsageRecorder()
            child = self._child(run_manager.get_child(), config, "student", recorder)
            try:
                student = self._student_runnable(keys)
                output = yield Call.invoke(student, self._student_input(input, scored), child)
            except Exception as exc:  # the teacher answers instead
                output = exc
            answer = self._student_done(recorder, output, query)
            if answer is not None:
                return answer
        recorder = UsageRecorder()
        child = self._child(run_manager.get_child(), config, "teacher", recorder)
        try:
            output = yield Call.invoke(self.teacher, input, child)
        except Exception as exc:
            output = exc
        answer = self._teacher_done(recorder, output, query)
        if self.learn:
            self._stats.count((yield self._learning(query, answer, scored)))
        return answer

    def _learning(self, query: dict[str, Any], answer: str, scored: ScoredExamples) -> Call:
        """The request that stores a teacher answer (replies with the outcome's counter)."""
        return Call(self._writer.write, self._writer.awrite, (query, answer, scored))

    def _invoke(
        self, input: dict[str, Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> str:
        answer: str = run_calls(self._answering(input, run_manager, config))
        return answer

    async def _ainvoke(
        self,
        input: dict[str, Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
    ) -> str:
        answer: str = await arun_calls(self._answering(input, run_manager, config))
        return answer

    @staticmethod
    def _teacher_error(query: Mapping[str, Any], exc: Exception) -> TeacherError:
        msg = f"the teacher failed on input {preview(dict(query))}: {type(exc).__name__}: {exc}; nothing was stored"
        return TeacherError(msg, input=dict(query))

    def invoke(
        self,
        input: dict[str, Any],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> str:
        """Answer one input with the student or the teacher.

        Args:
            input: The input dict (its ``input_keys`` fields are compared and stored).
            config: Callbacks, tags, metadata, run name ... (propagated to the models).
            **kwargs: Unused (Runnable protocol).

        Returns:
            The answer text.

        Raises:
            TeacherError: The teacher raised (nothing stored).
            AnswerFormatError: The teacher's answer is not text and cannot be stored.
        """
        return self._call_with_config(self._invoke, input, config)

    async def ainvoke(
        self,
        input: dict[str, Any],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> str:
        """Async twin of :meth:`invoke` (native async models and Redis store)."""
        return await self._acall_with_config(self._ainvoke, input, config)

    # -- calibration ---------------------------------------------------------------------
    def calibrate(
        self,
        inputs: Sequence[dict[str, Any]],
        target: float = 0.95,
        metric: Callable[[Any, Any], bool] | None = None,
        *,
        confidence: float | None = 0.95,
        learn: bool | None = None,
        config: RunnableConfig | None = None,
    ) -> CalibrationReport:
        """Set the policy's thresholds from a development stream (see ``calibrate.py``).

        The teacher answers every input (learning as it goes) and the student
        answers where any setting could route to it; the policy is set to the
        largest student share whose end-to-end answers agree with the teacher's on
        at least ``target`` of the inputs (teacher-routed inputs agree), judged by
        the agreement's lower ``confidence`` bound so that it holds beyond the
        development sample.

        Args:
            inputs: Development inputs, in stream order.
            target: Required agreement with the teacher in (0, 1].
            metric: ``metric(router_answer, teacher_answer) -> bool`` (default:
                exact after normalisation).
            confidence: One-sided confidence of the Wilson lower bound of the
                agreement that must reach ``target`` (``None``: the development
                sample's agreement itself, which overfits the sample).
            learn: Store teacher answers while calibrating (default: ``self.learn``).
            config: Passed to every model call.

        Returns:
            A :class:`~langchain_niche.routing.CalibrationReport` with the whole curve.
        """
        run = Calibration(self, inputs, target, metric, confidence, learn=learn, config=config)
        report: CalibrationReport = run_calls(run.steps())
        return report

    async def acalibrate(
        self,
        inputs: Sequence[dict[str, Any]],
        target: float = 0.95,
        metric: Callable[[Any, Any], bool] | None = None,
        *,
        confidence: float | None = 0.95,
        learn: bool | None = None,
        config: RunnableConfig | None = None,
    ) -> CalibrationReport:
        """Async twin of :meth:`calibrate`."""
        run = Calibration(self, inputs, target, metric, confidence, learn=learn, config=config)
        report: CalibrationReport = await arun_calls(run.steps())
        return report

"""``PEARL``: plan-and-execute over long documents as a LangChain Runnable."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from typing import Annotated, Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import (
    ensure_config,
    get_async_callback_manager_for_config,
    get_callback_manager_for_config,
    patch_config,
    set_config_context,
)
from langchain_core.runnables.utils import coro_with_context
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    model_validator,
)

from langchain_niche._validation import TypedValidationErrors, with_required
from langchain_niche.errors import InvalidParameterError
from langchain_niche.pearl.actions import DEFAULT_ACTIONS
from langchain_niche.pearl.chunking import Budget
from langchain_niche.pearl.demonstrations import DEFAULT_DEMONSTRATIONS
from langchain_niche.pearl.errors import PEARLBatchError
from langchain_niche.pearl.execute import AsyncRunner, SyncRunner
from langchain_niche.pearl.pipeline import QuestionRun, RunSettings
from langchain_niche.pearl.prompts import PromptStyle
from langchain_niche.pearl.retry import RetryPolicy
from langchain_niche.pearl.settings import (
    ActionsField,
    DemonstrationsField,
    ModelField,
    OptionalModelField,
    PEARLInput,
    RetryField,
    check_demonstrations,
    read_input,
)
from langchain_niche.pearl.trace import PEARLEvent, PEARLResult
from langchain_niche.selectors.jaccard import JaccardExampleSelector
from langchain_niche.tokens import TokenCounter, approximate_token_count

__all__ = ["EVENT_PREFIX", "PEARL", "PEARLInput"]

EVENT_PREFIX = "pearl_"
"""Custom events PEARL dispatches are named ``pearl_<type>`` (``pearl_step_end`` ...)."""


class PEARL(TypedValidationErrors, RunnableSerializable[dict[str, Any], PEARLResult]):
    """Answer questions about long documents by planning and executing actions.

    PEARL (Sun et al., 2023) asks a model for a *plan*, a short program over
    actions such as ``FIND_REASON(CTX, X)``, then executes it step by step over
    the document and returns the answer with a full trace:

    * **Planning**: the prompt shows the actions and the demonstrations whose
      questions are most similar to this one (a ``JaccardExampleSelector`` over
      the demonstration library); it never contains the document, so text in the
      document cannot change the plan.
    * **Self-correction**: an invalid plan goes back to the model with the
      parser's error and every earlier error, up to ``max_plan_attempts`` times;
      then the question is answered zero-shot and ``fallback_used`` is ``True``.
    * **Execution**: one model call per step (``CONCAT`` runs locally). A step's
      prompt holds its action's definition, its arguments with earlier outputs
      substituted, its description verbatim and (``prompt_style="grounded"``) the
      original question; the document only if the step takes ``CTX``, or the
      earlier output a step passes in the ``CTX`` slot. Steps whose inputs are ready run
      concurrently (at most ``max_concurrency`` model calls at once).
    * **Long documents**: a step whose prompt exceeds ``max_context_tokens`` (minus
      ``reserved_output_tokens``) runs over consecutive parts of the document and
      the partial outputs are combined; nothing is truncated and the step's
      record says so.
    * **Answer**: the outputs of the steps no later step uses, in plan order;
      optionally synthesized into one answer; mapped to an option when the input
      has ``options``.

    Input: ``{"question": str, "document": str}`` plus optional ``"options"``
    (list of strings) and ``"avoid_plans"``. Output: :class:`PEARLResult`.
    ``stream``/``astream`` yield the :class:`PEARLResult` as one chunk, like any
    Runnable, alone or composed (so ``with_fallbacks`` falls back when a step
    fails). Progress (plan attempts, the plan or the fallback, every step's start
    and end, the answer) is dispatched as LangChain custom events named
    ``pearl_<type>`` whose data is a :class:`PEARLEvent`: callbacks receive them
    in ``on_custom_event`` and ``astream_events(version="v2")`` shows them as
    ``on_custom_event``; :meth:`stream_progress` / :meth:`astream_progress`
    iterate them directly. Every model call is a child run (visible to
    callbacks, LangSmith and ``astream_events``) with the caller's callbacks,
    tags and metadata.

    Model calls time out after ``retry.timeout`` seconds (default 120, see
    :class:`RetryPolicy`). ``copy.deepcopy`` and ``pickle`` work whenever the
    models (and a custom ``demonstration_selector``) do.

    Batches: ``batch``/``abatch`` run questions concurrently (``config=
    {"max_concurrency": n}`` bounds how many). One failing question never loses
    the others: with ``return_exceptions=True`` its exception takes its place in
    the list; with ``return_exceptions=False`` (the default) a
    :class:`PEARLBatchError` is raised *after* every question finished, and its
    ``results`` hold every result and exception by position.

    Example:
        ```python
        from langchain_openai import ChatOpenAI
        from langchain_niche import PEARL

        pearl = PEARL(ChatOpenAI(model="gpt-4o"), max_context_tokens=32_000)
        result = pearl.invoke({"question": "Why did the mayor resign?", "document": text})
        print(result.answer)
        for step in result.steps:
            print(step.variable, step.seconds, step.output[:80])
        ```
    """

    llm: ModelField
    """Executes the steps (and plans, unless ``planner`` is set)."""
    planner: OptionalModelField = None
    """Writes the plans (default: ``llm``)."""
    actions: ActionsField = DEFAULT_ACTIONS
    """Actions plans may use (see ``mine_actions`` to build your own)."""
    demonstrations: DemonstrationsField = Field(
        default_factory=lambda: list(DEFAULT_DEMONSTRATIONS)
    )
    """Library of plan demonstrations (each plan must parse with ``actions``)."""
    demonstration_selector: BaseExampleSelector | None = None
    """Chooses demonstrations instead of the built-in Jaccard selection; it gets
    ``{"question": ...}`` and returns ``{"question", "plan"}`` dicts."""
    num_demonstrations: StrictInt = Field(default=4, ge=0)
    """Demonstrations shown per question: the most similar ones, topped up from the
    library order when fewer share a word with the question."""
    max_plan_attempts: StrictInt = Field(default=8, ge=1)
    """Plans requested before falling back to a zero-shot answer."""
    max_steps: StrictInt = Field(default=16, ge=1)
    """Longest plan accepted (longer ones are sent back for correction)."""
    max_concurrency: StrictInt = Field(default=4, ge=1)
    """Model calls in flight at once for one question (steps and document parts)."""
    max_context_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    """The model's context window; longer step prompts are split (``None``: never split)."""
    reserved_output_tokens: StrictInt = Field(default=1024, ge=0)
    """Part of ``max_context_tokens`` kept for the reply."""
    token_counter: TokenCounter | None = None
    """Counts prompt tokens (default: ``approximate_token_count``; e.g.
    ``chat_model.get_num_tokens`` for exact counts)."""
    synthesize_answer: StrictBool = False
    """Add one call that turns the final steps' outputs into a direct answer."""
    retry: RetryField = Field(default_factory=RetryPolicy)
    """Retries, backoff and timeout of model calls."""
    prompt_style: PromptStyle = "grounded"
    """Wording of the planning and step prompts: ``"grounded"`` (step prompts repeat
    the question and ask for grounded output) or ``"paper"`` (the PEARL paper's
    structure, in this package's words; see ``langchain_niche.pearl.prompts``)."""
    plan_with_options: StrictBool = False
    """Show the answer options to the planner. Off by default, as in the paper: the
    plan comes from the question alone and the options are used only to map the
    open answer to a choice (also during self-refinement, where showing them with
    the failed plans lets the planner steer toward the known right answer)."""

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", validate_assignment=True
    )

    _selector: JaccardExampleSelector | None = PrivateAttr(default=None)

    def __init__(self, llm: Any = None, **kwargs: Any) -> None:
        """Create a PEARL runnable (``llm`` may be given positionally)."""
        missing = "PEARL needs a model: PEARL(llm=chat_model, ...)"
        super().__init__(**with_required(kwargs, "llm", llm, missing))

    @model_validator(mode="after")
    def _settings_fit(self) -> PEARL:
        """Check the settings fit together; rebuild the demonstration index (also on assignment)."""
        window = self.max_context_tokens
        if window is not None and self.reserved_output_tokens >= window:
            msg = (
                f"reserved_output_tokens ({self.reserved_output_tokens}) must be smaller than "
                f"max_context_tokens ({window})"
            )
            raise InvalidParameterError(
                msg, name="reserved_output_tokens", value=self.reserved_output_tokens
            )
        check_demonstrations(self.demonstrations, self.actions)
        self._build_selector()
        return self

    def _build_selector(self) -> None:
        if not self.demonstrations or self.num_demonstrations == 0:
            self._selector = None
            return
        self._selector = JaccardExampleSelector(
            examples=[{"question": d.question, "plan": d.plan} for d in self.demonstrations],
            k=self.num_demonstrations,
            input_keys=["question"],
        )

    # -- schema ---------------------------------------------------------------------------------
    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The input schema (:class:`PEARLInput`)."""
        return PEARLInput

    def get_output_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """The output schema (:class:`PEARLResult`)."""
        return PEARLResult

    # -- preparing a run ----------------------------------------------------------------------
    def _pad(self, chosen: list[dict[str, Any]]) -> list[tuple[str, str]]:
        pairs = [
            (str(d["question"]), str(d["plan"])) for d in chosen if "question" in d and "plan" in d
        ]
        seen = {q for q, _ in pairs}
        for demo in self.demonstrations:
            if len(pairs) >= self.num_demonstrations:
                break
            if demo.question not in seen:
                pairs.append((demo.question, demo.plan))
                seen.add(demo.question)
        return pairs[: self.num_demonstrations] if self.num_demonstrations else []

    def select_demonstrations(self, question: str) -> list[tuple[str, str]]:
        """The ``(question, plan)`` demonstrations the planner sees for ``question``."""
        if self.num_demonstrations == 0:
            return []
        if self.demonstration_selector is not None:
            return self._pad(self.demonstration_selector.select_examples({"question": question}))
        if self._selector is None:
            return []
        return self._pad(self._selector.select_examples({"question": question}))

    async def aselect_demonstrations(self, question: str) -> list[tuple[str, str]]:
        """Async twin of :meth:`select_demonstrations`."""
        if self.demonstration_selector is not None and self.num_demonstrations:
            return self._pad(
                await self.demonstration_selector.aselect_examples({"question": question})
            )
        return self.select_demonstrations(question)

    def _question_run(self, data: PEARLInput, demonstrations: list[tuple[str, str]]) -> QuestionRun:
        counter = self.token_counter or approximate_token_count
        window = self.max_context_tokens
        settings = RunSettings(
            actions=self.actions,
            max_plan_attempts=self.max_plan_attempts,
            max_steps=self.max_steps,
            synthesize_answer=self.synthesize_answer,
            budget_tokens=None if window is None else window - self.reserved_output_tokens,
            prompt_style=self.prompt_style,
            plan_with_options=self.plan_with_options,
        )
        return QuestionRun(
            settings,
            Budget(settings.budget_tokens, counter),
            question=data.question,
            document=data.document,
            options=data.options,
            demonstrations=demonstrations,
            avoid_plans=data.avoid_plans,
        )

    def _runner_kwargs(self, config: RunnableConfig) -> dict[str, Any]:
        return {
            "llm": self.llm,
            "planner": self.planner or self.llm,
            "config": config,
            "max_concurrency": self.max_concurrency,
            "retry": self.retry,
            "counter": self.token_counter or approximate_token_count,
        }

    def _sync_events(
        self, input: Any, root: Any, config: RunnableConfig
    ) -> Generator[PEARLEvent, None, None]:
        """Run one question; dispatch every progress event as a custom event and yield it."""
        data = read_input(input)
        run = self._question_run(data, self.select_demonstrations(data.question))
        events = SyncRunner(run, root=root, **self._runner_kwargs(config)).events()
        try:
            for event in events:
                dispatch_custom_event(EVENT_PREFIX + event.type, event, config=config)
                yield event
        finally:
            events.close()

    async def _async_events(
        self, input: Any, root: Any, config: RunnableConfig
    ) -> AsyncGenerator[PEARLEvent, None]:
        """Async twin of :meth:`_sync_events`."""
        data = read_input(input)
        run = self._question_run(data, await self.aselect_demonstrations(data.question))
        runner = AsyncRunner(run, root=root, **self._runner_kwargs(config))
        async with contextlib.aclosing(runner.events()) as events:
            async for event in events:
                await adispatch_custom_event(EVENT_PREFIX + event.type, event, config=config)
                yield event

    # -- Runnable API ------------------------------------------------------------------------
    def _invoke(
        self, input: dict[str, Any], run_manager: Any, config: RunnableConfig
    ) -> PEARLResult:
        result = None
        for event in self._sync_events(input, run_manager, config):
            if event.result is not None:
                result = event.result
        assert result is not None
        return result

    async def _ainvoke(
        self, input: dict[str, Any], run_manager: Any, config: RunnableConfig
    ) -> PEARLResult:
        result = None
        async for event in self._async_events(input, run_manager, config):
            if event.result is not None:
                result = event.result
        assert result is not None
        return result

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> PEARLResult:
        """Answer one question.

        Progress events are dispatched as LangChain custom events named
        ``pearl_<type>`` whose data is the :class:`PEARLEvent` (callbacks'
        ``on_custom_event``, ``astream_events``' ``on_custom_event``).

        Args:
            input: ``{"question": ..., "document": ...}`` (optionally ``"options"``).
            config: Callbacks, tags, metadata, run name ...
            **kwargs: Ignored (Runnable protocol).

        Returns:
            The result with its trace.

        Raises:
            StepExecutionError: A model call kept failing (plan and finished steps attached).
            ContextBudgetError: A prompt cannot fit ``max_context_tokens``.
        """
        return self._call_with_config(self._invoke, input, config)

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> PEARLResult:
        """Async twin of :meth:`invoke` (native async model calls)."""
        return await self._acall_with_config(self._ainvoke, input, config)

    def _transform(
        self, chunks: Iterator[Any], run_manager: Any, config: RunnableConfig
    ) -> Iterator[PEARLResult]:
        yield self._invoke(_merge_chunks(list(chunks)), run_manager, config)

    async def _atransform(
        self, chunks: AsyncIterator[Any], run_manager: Any, config: RunnableConfig
    ) -> AsyncIterator[PEARLResult]:
        yield await self._ainvoke(_merge_chunks([c async for c in chunks]), run_manager, config)

    def stream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> Iterator[PEARLResult]:
        """Answer one question; yield the :class:`PEARLResult` as the one chunk.

        Like every Runnable's ``stream``, alone or composed. Progress goes to
        custom events (see :meth:`invoke`); iterate it with :meth:`stream_progress`.
        """
        yield from self._transform_stream_with_config(iter([input]), self._transform, config)

    async def astream(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any | None
    ) -> AsyncIterator[PEARLResult]:
        """Async twin of :meth:`stream` (see :meth:`astream_progress` for progress)."""

        async def single() -> AsyncIterator[dict[str, Any]]:
            yield input

        async for chunk in self._atransform_stream_with_config(single(), self._atransform, config):
            yield chunk

    def transform(
        self,
        input: Iterator[dict[str, Any]],
        config: RunnableConfig | None = None,
        **kwargs: Any | None,
    ) -> Iterator[PEARLResult]:
        """In a streaming chain: merge the input chunks, yield the result as one chunk."""
        yield from self._transform_stream_with_config(input, self._transform, config)

    async def atransform(
        self,
        input: AsyncIterator[dict[str, Any]],
        config: RunnableConfig | None = None,
        **kwargs: Any | None,
    ) -> AsyncIterator[PEARLResult]:
        """Async twin of :meth:`transform`."""
        async for chunk in self._atransform_stream_with_config(input, self._atransform, config):
            yield chunk

    def _progress_run(
        self, input: dict[str, Any], config: RunnableConfig | None
    ) -> tuple[RunnableConfig, dict[str, Any]]:
        """The config and the ``on_chain_start`` arguments of a progress stream's run."""
        config = ensure_config(config)
        name = config.get("run_name") or self.get_name()
        start = {
            "serialized": None,
            "inputs": input,
            "name": name,
            "run_id": config.pop("run_id", None),
        }
        return config, start

    def stream_progress(
        self, input: dict[str, Any], config: RunnableConfig | None = None
    ) -> Iterator[PEARLEvent]:
        """Answer one question, yielding its progress events as they happen.

        The same events are dispatched as custom events (see :meth:`invoke`);
        inside a composed chain, read them from ``astream_events`` instead.
        Closing the iterator early stops the run: no further step starts.

        Args:
            input: ``{"question": ..., "document": ...}`` (optionally ``"options"``).
            config: Callbacks, tags, metadata, run name ...

        Yields:
            :class:`PEARLEvent` objects: ``plan_attempt``, ``plan`` (or ``fallback``),
            ``step_start``/``step_end`` for every step, then ``answer`` whose
            ``result`` is the :class:`PEARLResult`.
        """
        config, start = self._progress_run(input, config)
        run_manager = get_callback_manager_for_config(config).on_chain_start(**start)
        child = patch_config(config, callbacks=run_manager.get_child())
        result = None
        try:
            with set_config_context(child) as context:
                events = context.run(self._sync_events, input, run_manager, child)
                try:
                    while True:
                        try:
                            event = context.run(next, events)
                        except StopIteration:
                            break
                        result = event.result or result
                        yield event
                finally:
                    context.run(events.close)
        except BaseException as exc:
            run_manager.on_chain_error(exc)
            raise
        run_manager.on_chain_end(result)

    async def astream_progress(
        self, input: dict[str, Any], config: RunnableConfig | None = None
    ) -> AsyncIterator[PEARLEvent]:
        """Async twin of :meth:`stream_progress` (closing it early cancels running steps)."""
        config, start = self._progress_run(input, config)
        run_manager = await get_async_callback_manager_for_config(config).on_chain_start(**start)
        child = patch_config(config, callbacks=run_manager.get_child())
        result = None
        try:
            with set_config_context(child) as context:
                events = self._async_events(input, run_manager, child)
                try:
                    while True:
                        try:
                            event = await coro_with_context(anext(events), context)
                        except StopAsyncIteration:
                            break
                        result = event.result or result
                        yield event
                finally:
                    await coro_with_context(events.aclose(), context)
        except BaseException as exc:
            await run_manager.on_chain_error(exc)
            raise
        await run_manager.on_chain_end(result)

    # -- copy and pickle -------------------------------------------------------------------
    def __getstate__(self) -> dict[Any, Any]:
        """Pickle state without the demonstration index (it holds a lock); rebuilt on load."""
        state = dict(super().__getstate__())
        private = dict(state.get("__pydantic_private__") or {})
        private["_selector"] = None
        state["__pydantic_private__"] = private
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Restore a pickled PEARL and rebuild its demonstration index."""
        super().__setstate__(state)
        self._build_selector()

    def __copy__(self) -> PEARL:
        """A shallow copy (settings shared, its own demonstration index)."""
        clone = type(self).__new__(type(self))
        clone.__setstate__(self.__getstate__())
        return clone

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> PEARL:
        """An independent copy: models, demonstrations and settings are deep-copied."""
        clone = type(self).__new__(type(self))
        memo = {} if memo is None else memo
        memo[id(self)] = clone
        try:
            state = copy.deepcopy(self.__getstate__(), memo)
        except TypeError as exc:
            for name in ("llm", "planner", "demonstration_selector", "token_counter"):
                value = getattr(self, name)
                try:
                    copy.deepcopy(value)
                except TypeError:
                    msg = (
                        f"PEARL cannot be deep-copied because its {name} "
                        f"({type(value).__name__}) cannot be: {exc}. Build a new PEARL with a "
                        f"fresh {name} instead"
                    )
                    raise TypeError(msg) from exc
            raise
        clone.__setstate__(state)
        return clone

    def batch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[PEARLResult]:
        """Answer many questions concurrently; a failing one never loses the others.

        Args:
            inputs: The questions.
            config: One config or one per input; ``max_concurrency`` bounds how many
                questions run at once.
            return_exceptions: Put a failed question's exception in its place in the
                list; otherwise raise :class:`PEARLBatchError` (with every result)
                once all questions finished.
            **kwargs: Passed to ``invoke``.

        Returns:
            One result per input, in input order.

        Raises:
            PEARLBatchError: Some questions failed and ``return_exceptions`` is False.
        """
        results = super().batch(inputs, config, return_exceptions=True, **kwargs)
        return _batch_outcome(results, return_exceptions)

    async def abatch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[PEARLResult]:
        """Async twin of :meth:`batch`."""
        results = await super().abatch(inputs, config, return_exceptions=True, **kwargs)
        return _batch_outcome(results, return_exceptions)


def _merge_chunks(chunks: list[Any]) -> Any:
    if chunks and all(isinstance(c, Mapping) for c in chunks):
        merged: dict[str, Any] = {}
        for chunk in chunks:
            merged.update(chunk)
        return merged
    return chunks[-1] if chunks else {}


def _batch_outcome(results: list[Any], return_exceptions: bool) -> list[PEARLResult]:
    if return_exceptions:
        return results
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    if not failed:
        return results
    first = results[failed[0]]
    msg = (
        f"{len(failed)} of {len(results)} questions failed (inputs {failed}); the others "
        f"succeeded and are in .results. First error: {type(first).__name__}: {first}"
    )
    raise PEARLBatchError(msg, results=results) from first

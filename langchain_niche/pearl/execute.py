"""Runners: perform PEARL's model calls and schedule plan steps over the dependency graph.

A runner drives a :class:`~langchain_niche.pearl.pipeline.QuestionRun`: it answers
its requests (model calls, plan execution) and forwards its progress events.
:class:`SyncRunner` uses threads, :class:`AsyncRunner` asyncio tasks; both

* start every step whose inputs are ready, at most ``max_concurrency`` at a time,
  and run ``CONCAT`` steps locally as soon as their inputs exist;
* allow at most ``max_concurrency`` model calls in flight (map-reduce parts of a
  step share that limit);
* retry failed calls per the :class:`~langchain_niche.pearl.RetryPolicy`, then
  raise :class:`~langchain_niche.pearl.StepExecutionError` with the plan and the
  finished steps attached, and stop the remaining steps;
* make every step a child run of the PEARL run and every model call a child run
  of its step (or of the PEARL run outside steps), tagged ``pearl:<phase>`` with
  ``pearl_phase`` / ``pearl_step`` / ``pearl_call`` metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import queue
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForChainRun,
    CallbackManager,
    CallbackManagerForChainRun,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor, patch_config

from langchain_niche.pearl._protocol import CallResult, Calls, Emit, RunPlan, TaskOutcome
from langchain_niche.pearl.chunking import count_messages
from langchain_niche.pearl.errors import StepExecutionError
from langchain_niche.pearl.pipeline import QuestionRun
from langchain_niche.pearl.plan import Plan, PlanStep
from langchain_niche.pearl.retry import RetryPolicy
from langchain_niche.pearl.trace import PEARLEvent, StepRecord, Usage
from langchain_niche.tokens import TokenCounter

__all__ = ["AsyncRunner", "DagState", "SyncRunner"]


class DagState:
    """Which steps of a plan are waiting, running and finished."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.position = {step.variable: i for i, step in enumerate(plan.steps)}
        self.started: set[str] = set()
        self.running: list[str] = []
        self.records: dict[str, StepRecord] = {}

    def ready(self) -> list[PlanStep]:
        """Steps not started whose inputs are all finished, in plan order."""
        return [
            step
            for step in self.plan.steps
            if step.variable not in self.started
            and all(dep in self.records for dep in step.dependencies)
        ]

    def start(self, step: PlanStep) -> None:
        """Mark ``step`` as running."""
        self.started.add(step.variable)
        self.running.append(step.variable)

    def finish(self, record: StepRecord) -> None:
        """Mark a step as finished."""
        self.running.remove(record.variable)
        self.records[record.variable] = record

    @property
    def values(self) -> dict[str, str]:
        """Outputs of the finished steps."""
        return {name: record.output for name, record in self.records.items()}

    @property
    def finished(self) -> bool:
        """Whether every step finished."""
        return len(self.records) == len(self.plan.steps)

    def ordered(self) -> list[StepRecord]:
        """Finished records in plan order."""
        return sorted(self.records.values(), key=lambda r: r.index)

    def failed(self, error: BaseException, step: PlanStep) -> BaseException:
        """Attach the plan and the finished steps to a step's error."""
        if isinstance(error, StepExecutionError):
            error.plan = self.plan
            error.step = error.step or step.variable
            error.completed_steps = self.ordered()
        return error


def _scope_name(plan: Plan, step: PlanStep) -> str:
    return f"step {plan.variables.index(step.variable) + 1}: {step.variable} = {step.action}"


class _Runner:
    """What both runners share: configuration, call configs, results, errors."""

    def __init__(
        self,
        run: QuestionRun,
        *,
        llm: Runnable[Any, Any],
        planner: Runnable[Any, Any],
        config: RunnableConfig,
        max_concurrency: int,
        retry: RetryPolicy,
        counter: TokenCounter,
    ) -> None:
        self.run = run
        self.llm = llm
        self.planner = planner
        self.config = config
        self.max_concurrency = max_concurrency
        self.retry = retry
        self.counter = counter

    def _model(self, request: Calls) -> Runnable[Any, Any]:
        return self.planner if request.planner else self.llm

    def _config(
        self,
        callbacks: CallbackManager | AsyncCallbackManager,
        request: Calls,
        index: int,
        failures: int,
    ) -> RunnableConfig:
        config = patch_config(self.config, callbacks=callbacks)
        metadata = {**(config.get("metadata") or {}), "pearl_phase": request.phase}
        if request.step is not None:
            metadata["pearl_step"] = request.step.variable
        if index < len(request.labels):
            metadata["pearl_call"] = request.labels[index]
        if failures:
            metadata["pearl_retry"] = failures
        config["metadata"] = metadata
        return config

    def _result(self, output: Any, messages: list[BaseMessage], retries: int) -> CallResult:
        if isinstance(output, BaseMessage):
            text = str(output.text)
            meta = output.usage_metadata if isinstance(output, AIMessage) else None
        elif isinstance(output, str):
            text, meta = output, None
        else:
            msg = (
                f"the model returned a {type(output).__name__}; PEARL needs a chat model or "
                "LLM (a Runnable returning a message or a string)"
            )
            raise TypeError(msg)
        if meta:
            usage = Usage(
                model_calls=1,
                input_tokens=meta.get("input_tokens", 0),
                output_tokens=meta.get("output_tokens", 0),
                total_tokens=meta.get("total_tokens", 0),
            )
        else:
            prompt_tokens = count_messages(messages, self.counter)
            output_tokens = self.counter(text)
            usage = Usage(
                model_calls=1,
                input_tokens=prompt_tokens,
                output_tokens=output_tokens,
                total_tokens=prompt_tokens + output_tokens,
                estimated=True,
            )
        return CallResult(text=text, usage=usage, retries=retries)

    def _failure(self, request: Calls, error: BaseException, attempts: int) -> StepExecutionError:
        where = (
            f"step {request.step.variable!r}"
            if request.step is not None
            else f"the {request.phase} call"
        )
        msg = f"{where} failed after {attempts} attempt(s): {type(error).__name__}: {error}"
        return StepExecutionError(
            msg,
            phase=request.phase,
            step=request.step.variable if request.step is not None else None,
            attempts=attempts,
        )

    def _record(self, step: PlanStep, outcome: TaskOutcome, started: float) -> StepRecord:
        plan = self.run.plan
        assert plan is not None
        return self.run.record(plan, step, outcome, started, self.run.elapsed())

    def _start_event(self, plan: Plan, step: PlanStep, state: DagState) -> PEARLEvent:
        return self.run.event(
            "step_start",
            f"start {_scope_name(plan, step)}  (running: {', '.join(state.running)})",
            step=step,
            running=list(state.running),
        ).event

    def _end_event(
        self, plan: Plan, step: PlanStep, record: StepRecord, state: DagState
    ) -> PEARLEvent:
        how = "locally" if record.local else f"{record.usage.model_calls} call(s)"
        if record.chunks > 1:
            how += f", document split into {record.chunks} parts"
        return self.run.event(
            "step_end",
            f"done  {_scope_name(plan, step)}  in {record.seconds:.2f} s ({how})",
            step=step,
            record=record,
            running=list(state.running),
        ).event


class _Stopped(RuntimeError):
    """Another step failed: this one stops before its next model call."""


class _CallPool:
    """Daemon worker threads shared by every sync model call that has a timeout.

    A worker is reused for call after call (an idle one takes the next call), at
    most ``size`` exist at once and an idle worker exits after ``idle`` seconds, so
    timeouts never add a thread per call. Python cannot stop a running thread: a
    call that timed out keeps its worker until the model returns, and its result
    is discarded. When every worker is busy, new calls wait in the queue; that
    wait counts towards their timeout.
    """

    def __init__(self, size: int, idle: float = 30.0) -> None:
        self.size = size
        self.idle = idle
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle_workers = threading.Semaphore(0)
        self._workers = 0

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        """Run ``fn`` (in the caller's context) on a worker; return its future."""
        future: Future[Any] = Future()
        context = contextvars.copy_context()
        self._queue.put((future, functools.partial(context.run, fn)))
        if self._idle_workers.acquire(blocking=False):  # an idle worker will take it
            return future
        with self._lock:
            if self._workers < self.size:
                self._workers += 1
                threading.Thread(target=self._work, daemon=True, name="pearl-model-call").start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, fn = self._queue.get(timeout=self.idle)
            except queue.Empty:
                if self._idle_workers.acquire(blocking=False):  # nobody counts on this worker
                    with self._lock:
                        self._workers -= 1
                    return
                continue
            if future.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as exc:  # handed to the waiting caller
                    future.set_exception(exc)
                else:
                    future.set_result(result)
                del future, fn
            self._idle_workers.release()


_CALL_POOL_SIZE = 64
_calls_pool = _CallPool(_CALL_POOL_SIZE)


def _call_with_timeout(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` on the shared call pool; give up waiting after ``timeout`` seconds."""
    future = _calls_pool.submit(fn)
    try:
        return future.result(timeout)
    except FuturesTimeoutError:
        future.cancel()  # never starts if it is still queued
        msg = f"the model call took longer than {timeout} s"
        raise TimeoutError(msg) from None


class SyncRunner(_Runner):
    """Answers a question with threads (``invoke``, ``stream``, ``batch``)."""

    def __init__(
        self, run: QuestionRun, *, root: CallbackManagerForChainRun, **kwargs: Any
    ) -> None:
        super().__init__(run, **kwargs)
        self.root = root
        self._slots = threading.Semaphore(self.max_concurrency)
        self._stop = threading.Event()

    def events(self) -> Generator[PEARLEvent, None, None]:
        """Run the question; yield its progress events (the last one carries the result)."""
        task = self.run.run()
        reply: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    request = task.throw(error) if error is not None else task.send(reply)
                except StopIteration:
                    return
                reply, error = None, None
                try:
                    if isinstance(request, Emit):
                        yield request.event
                    elif isinstance(request, Calls):
                        reply = self.calls(request, self.root)
                    elif isinstance(request, RunPlan):
                        reply = yield from self.run_plan(request.plan)
                except Exception as exc:
                    error = exc
        finally:
            self._stop.set()
            task.close()

    # -- model calls --------------------------------------------------------------------------
    def call(self, request: Calls, index: int, parent: CallbackManagerForChainRun) -> CallResult:
        """One model call with retries."""
        messages = request.prompts[index]
        model = self._model(request)
        failures = 0
        while True:
            if self._stop.is_set():
                msg = "stopped because another step failed"
                raise _Stopped(msg)
            config = self._config(
                parent.get_child(f"pearl:{request.phase}"), request, index, failures
            )
            try:
                with self._slots:
                    if self.retry.timeout is None:
                        output = model.invoke(messages, config)
                    else:
                        output = _call_with_timeout(
                            functools.partial(model.invoke, messages, config), self.retry.timeout
                        )
                break
            except Exception as exc:
                failures += 1
                if failures >= self.retry.max_attempts or not self.retry.retries(exc):
                    raise self._failure(request, exc, failures) from exc
            time.sleep(self.retry.delay(failures))
        return self._result(output, messages, failures)

    def calls(self, request: Calls, parent: CallbackManagerForChainRun) -> list[CallResult]:
        """All prompts of a request, concurrently."""
        if len(request.prompts) == 1:
            return [self.call(request, 0, parent)]
        workers = min(self.max_concurrency, len(request.prompts))
        with ContextThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(self.call, request, i, parent) for i in range(len(request.prompts))
            ]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    # -- steps ------------------------------------------------------------------------------------
    def _step(
        self, plan: Plan, step: PlanStep, values: dict[str, str], scope: CallbackManagerForChainRun
    ) -> TaskOutcome:
        task = self.run.step_task(plan, step, values)
        reply: Any = None
        while True:
            try:
                request = task.send(reply)
            except StopIteration as stop:
                outcome: TaskOutcome = stop.value
                return outcome
            reply = self.calls(request, scope)

    def _open(self, plan: Plan, step: PlanStep, state: DagState) -> CallbackManagerForChainRun:
        return self.root.get_child("pearl:step").on_chain_start(
            None,
            {"step": step.render(), "inputs": {d: state.values[d] for d in step.dependencies}},
            name=_scope_name(plan, step),
        )

    def run_plan(self, plan: Plan) -> Generator[PEARLEvent, None, list[StepRecord]]:
        """Execute the plan over its dependency graph; yield step events."""
        state = DagState(plan)
        running: dict[Future[TaskOutcome], tuple[PlanStep, CallbackManagerForChainRun, float]] = {}
        pool = ContextThreadPoolExecutor(max_workers=self.max_concurrency)
        try:
            while not state.finished:
                launched = True
                while launched:
                    launched = False
                    for step in state.ready():
                        local = plan.action(step).is_local
                        if not local and len(running) >= self.max_concurrency:
                            continue
                        state.start(step)
                        scope = self._open(plan, step, state)
                        started = self.run.elapsed()
                        if local:
                            yield self._start_event(plan, step, state)
                            outcome = self._step(plan, step, state.values, scope)
                            record = self._record(step, outcome, started)
                            scope.on_chain_end({"output": record.output})
                            state.finish(record)
                            yield self._end_event(plan, step, record, state)
                            launched = True
                            break
                        future = pool.submit(self._step, plan, step, state.values, scope)
                        running[future] = (step, scope, started)
                        yield self._start_event(plan, step, state)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                failure: tuple[BaseException, PlanStep] | None = None
                for future in sorted(done, key=lambda f: state.position[running[f][0].variable]):
                    step, scope, started = running.pop(future)
                    error = future.exception()
                    if error is not None:
                        scope.on_chain_error(error)
                        failure = failure or (error, step)
                        continue
                    record = self._record(step, future.result(), started)
                    scope.on_chain_end({"output": record.output})
                    state.finish(record)
                    yield self._end_event(plan, step, record, state)
                if failure is not None:  # steps that finished alongside it are kept first
                    self._stop.set()
                    raise state.failed(*failure)
        finally:
            if running:
                self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for _, scope, _ in running.values():  # close the traces of abandoned steps
                scope.on_chain_error(_Stopped("the run stopped before this step finished"))
        return state.ordered()


class AsyncRunner(_Runner):
    """Answers a question with asyncio tasks (``ainvoke``, ``astream``, ``abatch``)."""

    def __init__(
        self, run: QuestionRun, *, root: AsyncCallbackManagerForChainRun, **kwargs: Any
    ) -> None:
        super().__init__(run, **kwargs)
        self.root = root
        self._slots = asyncio.Semaphore(self.max_concurrency)

    async def events(self) -> AsyncGenerator[PEARLEvent, None]:
        """Run the question; yield its progress events (the last one carries the result)."""
        task = self.run.run()
        reply: Any = None
        error: BaseException | None = None
        try:
            while True:
                try:
                    request = task.throw(error) if error is not None else task.send(reply)
                except StopIteration:
                    return
                reply, error = None, None
                try:
                    if isinstance(request, Emit):
                        yield request.event
                    elif isinstance(request, Calls):
                        reply = await self.calls(request, self.root)
                    elif isinstance(request, RunPlan):
                        # aclosing: a consumer that stops early must cancel the running steps now
                        async with contextlib.aclosing(self.run_plan(request.plan)) as steps:
                            async for item in steps:
                                if isinstance(item, PEARLEvent):
                                    yield item
                                else:
                                    reply = item
                except Exception as exc:
                    error = exc
        finally:
            task.close()

    # -- model calls --------------------------------------------------------------------------
    async def call(
        self, request: Calls, index: int, parent: AsyncCallbackManagerForChainRun
    ) -> CallResult:
        """One model call with retries."""
        messages = request.prompts[index]
        model = self._model(request)
        failures = 0
        while True:
            config = self._config(
                parent.get_child(f"pearl:{request.phase}"), request, index, failures
            )
            try:
                async with self._slots:
                    if self.retry.timeout is None:
                        output = await model.ainvoke(messages, config)
                    else:
                        try:
                            output = await asyncio.wait_for(
                                model.ainvoke(messages, config), self.retry.timeout
                            )
                        except asyncio.TimeoutError:
                            msg = f"the model call took longer than {self.retry.timeout} s"
                            raise TimeoutError(msg) from None
                break
            except Exception as exc:
                failures += 1
                if failures >= self.retry.max_attempts or not self.retry.retries(exc):
                    raise self._failure(request, exc, failures) from exc
            await asyncio.sleep(self.retry.delay(failures))
        return self._result(output, messages, failures)

    async def calls(
        self, request: Calls, parent: AsyncCallbackManagerForChainRun
    ) -> list[CallResult]:
        """All prompts of a request, concurrently."""
        if len(request.prompts) == 1:
            return [await self.call(request, 0, parent)]
        tasks = [
            asyncio.ensure_future(self.call(request, i, parent))
            for i in range(len(request.prompts))
        ]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            await _cancel(tasks)
            raise

    # -- steps ------------------------------------------------------------------------------------
    async def _step(
        self,
        plan: Plan,
        step: PlanStep,
        values: dict[str, str],
        scope: AsyncCallbackManagerForChainRun,
    ) -> TaskOutcome:
        task = self.run.step_task(plan, step, values)
        reply: Any = None
        while True:
            try:
                request = task.send(reply)
            except StopIteration as stop:
                outcome: TaskOutcome = stop.value
                return outcome
            reply = await self.calls(request, scope)

    async def _open(
        self, plan: Plan, step: PlanStep, state: DagState
    ) -> AsyncCallbackManagerForChainRun:
        return await self.root.get_child("pearl:step").on_chain_start(
            None,
            {"step": step.render(), "inputs": {d: state.values[d] for d in step.dependencies}},
            name=_scope_name(plan, step),
        )

    async def run_plan(self, plan: Plan) -> AsyncGenerator[PEARLEvent | list[StepRecord], None]:
        """Execute the plan over its dependency graph; yield step events, then the records."""
        state = DagState(plan)
        running: dict[
            asyncio.Task[TaskOutcome], tuple[PlanStep, AsyncCallbackManagerForChainRun, float]
        ] = {}
        try:
            while not state.finished:
                launched = True
                while launched:
                    launched = False
                    for step in state.ready():
                        local = plan.action(step).is_local
                        if not local and len(running) >= self.max_concurrency:
                            continue
                        state.start(step)
                        scope = await self._open(plan, step, state)
                        started = self.run.elapsed()
                        if local:
                            yield self._start_event(plan, step, state)
                            outcome = await self._step(plan, step, state.values, scope)
                            record = self._record(step, outcome, started)
                            await scope.on_chain_end({"output": record.output})
                            state.finish(record)
                            yield self._end_event(plan, step, record, state)
                            launched = True
                            break
                        task = asyncio.ensure_future(self._step(plan, step, state.values, scope))
                        running[task] = (step, scope, started)
                        yield self._start_event(plan, step, state)
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                failure: tuple[BaseException, PlanStep] | None = None
                for task in sorted(done, key=lambda t: state.position[running[t][0].variable]):
                    step, scope, started = running.pop(task)
                    error = task.exception()
                    if error is not None:
                        await scope.on_chain_error(error)
                        failure = failure or (error, step)
                        continue
                    record = self._record(step, task.result(), started)
                    await scope.on_chain_end({"output": record.output})
                    state.finish(record)
                    yield self._end_event(plan, step, record, state)
                if failure is not None:  # steps that finished alongside it are kept first
                    raise state.failed(*failure)
        finally:
            await _cancel(list(running))
            for _, scope, _ in running.values():  # close the traces of abandoned steps
                await scope.on_chain_error(_Stopped("the run stopped before this step finished"))
        yield state.ordered()


async def _cancel(tasks: list[asyncio.Task[Any]] | list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

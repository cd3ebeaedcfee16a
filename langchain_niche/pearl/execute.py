"""Runners: carry out PEARL's requests with threads (sync) or asyncio tasks (async).

A runner drives a :class:`~langchain_niche.pearl.pipeline.QuestionRun`: it answers
its requests (model calls, plan execution) and forwards its progress events. The
decisions are made once, elsewhere: what to ask the model in
:mod:`~langchain_niche.pearl.pipeline`, which step starts when in
:mod:`~langchain_niche.pearl.schedule`. :class:`SyncRunner` and
:class:`AsyncRunner` only wait differently. Both

* allow at most ``max_concurrency`` model calls in flight (map-reduce parts of a
  step share that limit);
* retry failed calls per the :class:`~langchain_niche.pearl.RetryPolicy`, then
  raise :class:`~langchain_niche.pearl.StepExecutionError` with the plan and the
  finished steps attached, and stop the remaining steps;
* time a call out after ``RetryPolicy.timeout`` seconds: the async runner cancels
  the call's task; the sync runner stops waiting for a worker of a small shared
  pool (see :mod:`langchain_niche.pearl._calls` for what it cannot stop);
* make every step a child run of the PEARL run and every model call a child run
  of its step (or of the PEARL run outside steps), tagged ``pearl:<phase>`` with
  ``pearl_phase`` / ``pearl_step`` / ``pearl_call`` metadata.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import AsyncGenerator, Generator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Generic, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForChainRun,
    CallbackManager,
    CallbackManagerForChainRun,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ContextThreadPoolExecutor, patch_config

from langchain_niche._sansio import Driver, adrive, drive
from langchain_niche.pearl._calls import call_with_timeout
from langchain_niche.pearl._protocol import CallResult, Calls, Emit, TaskOutcome
from langchain_niche.pearl.chunking import count_messages
from langchain_niche.pearl.errors import StepExecutionError
from langchain_niche.pearl.pipeline import QuestionRun
from langchain_niche.pearl.retry import RetryPolicy
from langchain_niche.pearl.schedule import Close, Fail, Open, Start, Wait, question
from langchain_niche.pearl.trace import PEARLEvent, Usage
from langchain_niche.tokens import TokenCounter

__all__ = ["AsyncRunner", "SyncRunner"]


class _Stopped(RuntimeError):
    """Another step failed: this one stops before its next model call."""


_ABANDONED = "the run stopped before this step finished"


_Scope = TypeVar("_Scope", CallbackManagerForChainRun, AsyncCallbackManagerForChainRun)


class _Runner(Generic[_Scope]):
    """What both runners share: configuration, call configs, results, errors."""

    def __init__(
        self,
        run: QuestionRun,
        *,
        root: _Scope,
        llm: Runnable[Any, Any],
        planner: Runnable[Any, Any],
        config: RunnableConfig,
        max_concurrency: int,
        retry: RetryPolicy,
        counter: TokenCounter,
    ) -> None:
        self.run = run
        self.root: _Scope = root
        self._scopes: dict[str, _Scope] = {}
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

    def _retry_delay(self, request: Calls, error: Exception, failures: int) -> float:
        """Seconds before the next attempt; raises once the policy gives up."""
        if failures >= self.retry.max_attempts or not self.retry.retries(error):
            raise self._failure(request, error, failures) from error
        return self.retry.delay(failures)


class SyncRunner(_Runner[CallbackManagerForChainRun]):
    """Answers a question with threads (``invoke``, ``stream``, ``batch``)."""

    def __init__(self, run: QuestionRun, **kwargs: Any) -> None:
        super().__init__(run, **kwargs)
        self._slots = threading.Semaphore(self.max_concurrency)
        self._stop = threading.Event()
        self._pool = ContextThreadPoolExecutor(max_workers=self.max_concurrency)
        self._running: dict[Future[TaskOutcome], str] = {}

    def events(self) -> Generator[PEARLEvent, None, None]:
        """Run the question; yield its progress events (the last one carries the result)."""
        driver = Driver(question(self.run, self.max_concurrency))
        try:
            for request in driver:
                with driver.answering():
                    if not isinstance(request, Emit):
                        driver.reply = self._serve(request)
                    else:
                        yield request.event
        finally:
            self._stop.set()  # no further model call of this question starts
            self._pool.shutdown(wait=True, cancel_futures=True)
            for variable in self._running.values():  # close the traces of abandoned steps
                self._scopes[variable].on_chain_error(_Stopped(_ABANDONED))
            driver.close()

    def _serve(self, request: Any) -> Any:
        """Carry out one request of :func:`~langchain_niche.pearl.schedule.question`."""
        if isinstance(request, Calls):
            return self.calls(request, self.root)
        if isinstance(request, Start):
            scope = self._scopes[request.step.variable]
            if not request.background:
                return self._step(request, scope)
            self._running[self._pool.submit(self._step, request, scope)] = request.step.variable
        elif isinstance(request, Wait):
            done, _ = wait(self._running, return_when=FIRST_COMPLETED)
            return [(self._running.pop(f), f.exception() or f.result()) for f in done]
        elif isinstance(request, Open):
            opener = self.root.get_child("pearl:step").on_chain_start
            self._scopes[request.step.variable] = opener(None, request.inputs, name=request.name)
        elif isinstance(request, Close):
            self._scopes.pop(request.step.variable).on_chain_end({"output": request.output})
        elif isinstance(request, Fail):
            self._scopes.pop(request.step.variable).on_chain_error(request.error)
        return None

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
                        output = call_with_timeout(
                            functools.partial(model.invoke, messages, config), self.retry.timeout
                        )
                break
            except Exception as exc:
                failures += 1
                delay = self._retry_delay(request, exc, failures)
            time.sleep(delay)
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
    def _step(self, request: Start, scope: CallbackManagerForChainRun) -> TaskOutcome:
        task = self.run.step_task(request.plan, request.step, request.values)
        outcome: TaskOutcome = drive(task, lambda call: self.calls(call, scope))
        return outcome


class AsyncRunner(_Runner[AsyncCallbackManagerForChainRun]):
    """Answers a question with asyncio tasks (``ainvoke``, ``astream``, ``abatch``)."""

    def __init__(self, run: QuestionRun, **kwargs: Any) -> None:
        super().__init__(run, **kwargs)
        self._slots = asyncio.Semaphore(self.max_concurrency)
        self._running: dict[asyncio.Task[TaskOutcome], str] = {}

    async def events(self) -> AsyncGenerator[PEARLEvent, None]:
        """Async twin of :meth:`SyncRunner.events`."""
        driver = Driver(question(self.run, self.max_concurrency))
        try:
            for request in driver:
                with driver.answering():
                    if not isinstance(request, Emit):
                        driver.reply = await self._serve(request)
                    else:
                        yield request.event
        finally:
            await _cancel(list(self._running))  # a consumer that stops early cancels the steps
            for variable in self._running.values():  # close the traces of abandoned steps
                await self._scopes[variable].on_chain_error(_Stopped(_ABANDONED))
            driver.close()

    async def _serve(self, request: Any) -> Any:
        """Carry out one request of :func:`~langchain_niche.pearl.schedule.question`."""
        if isinstance(request, Calls):
            return await self.calls(request, self.root)
        if isinstance(request, Start):
            step = self._step(request, self._scopes[request.step.variable])
            if not request.background:
                return await step
            self._running[asyncio.ensure_future(step)] = request.step.variable
        elif isinstance(request, Wait):
            done, _ = await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
            return [(self._running.pop(t), t.exception() or t.result()) for t in done]
        elif isinstance(request, Open):
            opener = self.root.get_child("pearl:step").on_chain_start
            self._scopes[request.step.variable] = await opener(
                None, request.inputs, name=request.name
            )
        elif isinstance(request, Close):
            await self._scopes.pop(request.step.variable).on_chain_end({"output": request.output})
        elif isinstance(request, Fail):
            await self._scopes.pop(request.step.variable).on_chain_error(request.error)
        return None

    # -- model calls --------------------------------------------------------------------------
    async def call(
        self, request: Calls, index: int, parent: AsyncCallbackManagerForChainRun
    ) -> CallResult:
        """One model call with retries (a timed-out call's task is cancelled)."""
        messages = request.prompts[index]
        model = self._model(request)
        failures = 0
        while True:
            config = self._config(
                parent.get_child(f"pearl:{request.phase}"), request, index, failures
            )
            try:
                async with self._slots:
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
                delay = self._retry_delay(request, exc, failures)
            await asyncio.sleep(delay)
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
    async def _step(self, request: Start, scope: AsyncCallbackManagerForChainRun) -> TaskOutcome:
        task = self.run.step_task(request.plan, request.step, request.values)
        outcome: TaskOutcome = await adrive(task, lambda call: self.calls(call, scope))
        return outcome


async def _cancel(tasks: list[asyncio.Task[Any]] | list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

"""Background tasks that are not allowed to die quietly.

A task that ends with an unexpected exception is logged at WARNING with its
traceback and started again after a backoff (exponential, with full jitter),
so one bug in a loop never leaves a daemon silently without it. Stopping
cancels every task and waits for it; an exception a task raises on the way
out is logged, not hidden.

>>> supervisor.spawn("registry", watch_registry)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0

Factory = Callable[[], Coroutine[Any, Any, None]]


def jittered(backoff: float) -> float:
    """A delay drawn from ``[0, backoff]`` (full jitter): peers that failed together
    do not all retry at the same moment."""
    return random.uniform(0, backoff)


class Supervisor:
    def __init__(self, backoff_start: float = BACKOFF_START, backoff_max: float = BACKOFF_MAX):
        self.backoff_start = backoff_start
        self.backoff_max = backoff_max
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = {}  # name -> how often it was restarted (status, tests)

    def spawn(self, name: str, factory: Factory) -> None:
        """Run ``factory()`` as task ``name`` (if it is not running), restarting it on failure."""
        if name not in self._tasks:
            self._tasks[name] = asyncio.create_task(self._keep(name, factory), name=name)

    def running(self, name: str) -> bool:
        return name in self._tasks

    def names(self) -> list[str]:
        return list(self._tasks)

    async def _keep(self, name: str, factory: Factory) -> None:
        backoff = self.backoff_start
        try:
            while True:
                started = time.monotonic()
                try:
                    await factory()
                    return  # finished: not restarted
                except Exception:
                    if _being_cancelled():
                        raise  # failed on its way out: stop() logs it
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    log.warning("task %s failed; restarting it", name, exc_info=True)
                if time.monotonic() - started > self.backoff_max:
                    backoff = self.backoff_start  # it had worked for a while
                await asyncio.sleep(jittered(backoff))
                backoff = min(backoff * 2, self.backoff_max)
        finally:
            if self._tasks.get(name) is asyncio.current_task():
                del self._tasks[name]

    async def cancel(self, name: str) -> None:
        """Stop task ``name`` and wait for it."""
        task = self._tasks.pop(name, None)
        if task is not None:
            await _cancelled(task)

    async def stop(self) -> None:
        """Cancel every task and wait for each; exceptions on the way out are logged."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            await _cancelled(task)


def _being_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if _being_cancelled():
            raise  # we are being cancelled ourselves
    except Exception:
        log.error("task %s failed while stopping", task.get_name(), exc_info=True)

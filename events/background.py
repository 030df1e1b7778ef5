"""A task that runs alongside a `with` block, whose errors come out unwrapped rather than in an ExceptionGroup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager

import anyio


@asynccontextmanager
async def alongside(
    task: Callable[[], Coroutine[object, object, None]], *, on_exit: Callable[[], None], cancel_on_exit: bool
) -> AsyncIterator[None]:
    """Run `task` while the block runs; on leaving call `on_exit`, cancel the task if asked, and wait for it.

    A single error, from the block or from the task (which then cancels the block), is raised as it is.
    """
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(task)
            try:
                yield
            finally:
                on_exit()
                if cancel_on_exit:
                    tasks.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
            raise group.exceptions[0] from None
        raise

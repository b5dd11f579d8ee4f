"""Task name -> handler, with per-task retry policy and default lease."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lockstep.queue.retry import DEFAULT_POLICY, RetryPolicy

if TYPE_CHECKING:
    from lockstep.queue.worker import JobContext

Handler = Callable[["JobContext"], Awaitable[None]]


@dataclass(frozen=True)
class Task:
    """``batch`` > 1: the worker hands up to that many ready jobs of this task (same brand) to one handler call
    (``ctx.jobs``), and ``ctx.transaction()`` completes them all together. A failure retries each job on its own
    schedule; the handler decides per job only by what it commits. One handler call takes one of the worker's
    slots, however many jobs it carries.

    ``max_calls``: at most that many handler calls of this task and brand run at once in one worker; the jobs that
    arrive meanwhile wait and are claimed together. For a batch task whose calls wait on a rate budget (one Centra
    request per call) this turns a trickle of jobs into full batches instead of many one-job calls queued on the
    budget, each spending a request on one order."""

    name: str
    handler: Handler
    retry: RetryPolicy = DEFAULT_POLICY
    batch: int = 1
    max_calls: int | None = None


@dataclass
class TaskRegistry:
    tasks: dict[str, Task] = field(default_factory=dict)

    def register(
        self,
        name: str,
        handler: Handler,
        retry: RetryPolicy = DEFAULT_POLICY,
        *,
        batch: int = 1,
        max_calls: int | None = None,
    ) -> None:
        if name in self.tasks:
            raise ValueError(f"task {name!r} registered twice")
        if batch < 1:
            raise ValueError(f"task {name!r}: batch must be at least 1")
        if max_calls is not None and max_calls < 1:
            raise ValueError(f"task {name!r}: max_calls must be at least 1")
        self.tasks[name] = Task(name, handler, retry, batch, max_calls)

    def task(self, name: str, retry: RetryPolicy = DEFAULT_POLICY) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def wrap(fn: Handler) -> Handler:
            self.register(name, fn, retry)
            return fn

        return wrap

    def get(self, name: str) -> Task | None:
        return self.tasks.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.tasks

    def merged(self, other: TaskRegistry) -> TaskRegistry:
        result = TaskRegistry(dict(self.tasks))
        for task in other.tasks.values():
            result.register(task.name, task.handler, task.retry, batch=task.batch, max_calls=task.max_calls)
        return result

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
    name: str
    handler: Handler
    retry: RetryPolicy = DEFAULT_POLICY


@dataclass
class TaskRegistry:
    tasks: dict[str, Task] = field(default_factory=dict)

    def register(self, name: str, handler: Handler, retry: RetryPolicy = DEFAULT_POLICY) -> None:
        if name in self.tasks:
            raise ValueError(f"task {name!r} registered twice")
        self.tasks[name] = Task(name, handler, retry)

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
            result.register(task.name, task.handler, task.retry)
        return result

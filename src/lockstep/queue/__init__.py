"""Durable jobs in the same database as the state they change (the transactional outbox).

``enqueue`` runs inside the caller's transaction, so a job exists exactly when the state change that caused it
was committed. Workers claim jobs in batches under a lease that a heartbeat extends; a sweeper returns the jobs of
dead workers. See ``docs/architecture.md`` ("The job queue") for the guarantees and their limits.
"""

from lockstep.queue.errors import LeaseLost, PermanentError, RetryLater, TransientError
from lockstep.queue.jobs import Job, enqueue, enqueue_many, job_values
from lockstep.queue.registry import TaskRegistry
from lockstep.queue.worker import DEFAULT_CONCURRENCY, JobContext, Worker

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Job",
    "JobContext",
    "LeaseLost",
    "PermanentError",
    "RetryLater",
    "TaskRegistry",
    "TransientError",
    "Worker",
    "enqueue",
    "enqueue_many",
    "job_values",
]

"""Prometheus figures for the queue (exposed by the HTTP app's /metrics)."""

from prometheus_client import Counter, Histogram

JOBS_FINISHED = Counter(
    "lockstep_jobs_finished_total", "Jobs that left a worker, by task and outcome", ["task", "outcome"]
)
JOB_SECONDS = Histogram("lockstep_job_seconds", "Handler run time", ["task"])
LEASES_EXPIRED = Counter("lockstep_job_leases_expired_total", "Jobs returned by the sweeper after a lost worker")

"""structlog set-up. Every rendered line passes through secret redaction before it is written."""

from __future__ import annotations

import logging
import sys

import structlog


def _redact_event(_logger, _name, event_dict):
    from lockstep.config.secrets import redact

    return {k: redact(v) if isinstance(v, str) else v for k, v in event_dict.items()}


def configure(level: str = "INFO", *, json: bool = False, stream=None) -> None:
    """Configure structlog and the stdlib root logger (uvicorn, alembic) to one format and level."""
    level_no = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(level_no, int):
        level_no = logging.INFO
    stream = stream or sys.stderr
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.addFilter(_RedactingFilter())
    logging.basicConfig(level=max(level_no, logging.WARNING), handlers=[handler], force=True)


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from lockstep.config.secrets import redact

        record.msg = redact(record.getMessage())
        record.args = ()
        return True

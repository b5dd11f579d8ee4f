"""Centra's ``DateTimeTz`` output: ISO 8601 by default, or a PHP ``date()`` format given as ``format:``.

Centra fields take ``format: String = "Y-m-d\\TH:i:sP"`` (PHP syntax, e.g. the documented
``updatedAt(format: "Y-m-d\\TH:i:sO")``). The common PHP letters are supported; a backslash escapes a letter.
"""

from __future__ import annotations

from datetime import datetime

DEFAULT_FORMAT = "Y-m-d\\TH:i:sP"


def _offset(dt: datetime, colon: bool) -> str:
    delta = dt.utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta else 0
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}" if colon else f"{sign}{hours:02d}{mins:02d}"


_LETTERS = {
    "Y": lambda d: f"{d.year:04d}",
    "y": lambda d: f"{d.year % 100:02d}",
    "m": lambda d: f"{d.month:02d}",
    "n": lambda d: str(d.month),
    "d": lambda d: f"{d.day:02d}",
    "j": lambda d: str(d.day),
    "H": lambda d: f"{d.hour:02d}",
    "G": lambda d: str(d.hour),
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
    "u": lambda d: f"{d.microsecond:06d}",
    "v": lambda d: f"{d.microsecond // 1000:03d}",
    "O": lambda d: _offset(d, False),
    "P": lambda d: _offset(d, True),
    "T": lambda d: d.tzname() or "UTC",
    "U": lambda d: str(int(d.timestamp())),
    "D": lambda d: d.strftime("%a"),
    "M": lambda d: d.strftime("%b"),
    "c": lambda d: d.isoformat(timespec="seconds"),
}


def format_datetime(value: datetime | None, fmt: str | None = None) -> str | None:
    if value is None:
        return None
    out: list[str] = []
    escaped = False
    for char in fmt or DEFAULT_FORMAT:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _LETTERS:
            out.append(_LETTERS[char](value))
        else:
            out.append(char)
    return "".join(out)

"""Where the shared reference material (``../shared/spec``) is: one answer for every test.

The project is used next to ``shared/`` (``<checkout>/../shared/spec``); a clone elsewhere can point
``LOCKSTEP_SPEC_DIR`` at it; on this workplace's machines it is also at ``/work/shared/spec``. The material is read
at test time and never copied into the project (the Centra examples are CC BY-NC-SA).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _find() -> Path:
    candidates = [
        os.environ.get("LOCKSTEP_SPEC_DIR"),
        ROOT.parent / "shared" / "spec",
        Path("/work/shared/spec"),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "README.md").exists():
            return Path(candidate)
    return ROOT.parent / "shared" / "spec"  # absent: the tests that need it fail with this path in the message


SPEC_DIR = _find()

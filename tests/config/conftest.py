"""Fixtures for the configuration tests: the shipped example, and a way to check edited copies of it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockstep.config.loader import read_brand_file, read_yaml
from lockstep.config.secrets import clear_secrets
from lockstep.config.validate import Findings

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example-brand.yaml"


@pytest.fixture
def example_path() -> Path:
    return EXAMPLE


@pytest.fixture
def example_doc() -> dict[str, Any]:
    """A fresh, editable copy of the example as plain data (read with Lockstep's own YAML rules)."""
    document, problems = read_yaml(EXAMPLE, EXAMPLE.name)
    assert problems == []
    return copy.deepcopy(document)


@pytest.fixture
def write_brand(tmp_path: Path) -> Callable[..., Path]:
    def write(document: Any, name: str = "example-brand.yaml", directory: Path | None = None) -> Path:
        target = (directory or tmp_path) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return target

    return write


@pytest.fixture
def check(write_brand: Callable[..., Path]) -> Callable[[Any], Findings]:
    """Write a document to example-brand.yaml and return what validation finds."""

    def run(document: Any) -> Findings:
        _, findings = read_brand_file(write_brand(document), display="example-brand.yaml")
        return findings

    return run


@pytest.fixture(autouse=True)
def _fresh_redaction_registry() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No LOCKSTEP_* variables from the developer's shell leak into settings tests."""
    import os

    for name in list(os.environ):
        if name.startswith("LOCKSTEP_"):
            monkeypatch.delenv(name)
    return monkeypatch

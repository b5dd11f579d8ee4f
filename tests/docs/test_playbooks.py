"""Every exception kind has an operator playbook, the index links it, and the commands it names are real.

A playbook names only commands the CLI has today, or commands planned for later versions, and marks the
planned ones "(coming)". When a planned command ships, this test says which pages to update.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from lockstep.cli import app
from lockstep.domain.exception_kinds import KINDS

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "docs" / "playbooks"
INDEX = PLAYBOOKS / "README.md"

SECTIONS = (
    "What it means",
    "Why it happens",
    "What to do",
    "How to verify it is fixed",
    "Who else to tell",
)

# Commands from later versions that playbooks may name, always followed by "(coming)".
PLANNED = {
    "orders show",
    "orders release",
    "shipments pending",
    "sync items",
    "reconcile",
    "facility check",
    "facility promote",
}

COMMAND_SPAN = re.compile(r"`(lockstep(?: [^`]*)?)`(\s*\(coming\))?")


def _cli_commands() -> dict:
    """Every runnable command of today's CLI, keyed by its words ("check", "exceptions list", ...)."""
    root = typer.main.get_command(app)
    found: dict = {}
    for name, command in root.commands.items():
        if getattr(command, "commands", None):  # a group (typer may vendor its own click)
            for sub_name, sub in command.commands.items():
                found[f"{name} {sub_name}"] = sub
        else:
            found[name] = command
    return found


CLI = _cli_commands()


def _pages() -> list[Path]:
    return sorted(PLAYBOOKS.glob("*.md"))


def _command_words(span: str) -> str:
    """The command a span names: "exceptions list" for `lockstep exceptions list --brand x`."""
    words = []
    for token in span.split()[1:3]:
        if token.startswith(("-", "<")) or not re.fullmatch(r"[a-z][a-z-]*", token):
            break
        words.append(token)
    two, one = " ".join(words[:2]), " ".join(words[:1])
    return two if two in CLI or two in PLANNED else one


def _index_rows() -> dict[str, list[str]]:
    rows = {}
    for line in INDEX.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return rows


@pytest.mark.parametrize("name", sorted(KINDS))
def test_playbook_exists_with_the_five_sections(name):
    kind = KINDS[name]
    page = ROOT / kind.playbook_path
    assert page.is_file(), f"missing playbook {kind.playbook_path} for exception kind {name}"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# "), f"{page.name}: starts with a title"
    assert f"`{name}`" in text, f"{page.name}: names its kind"
    headings = [line[3:].strip() for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS), f"{page.name}: sections are {headings}"
    for section, body in zip(SECTIONS, re.split(r"^## .*$", text, flags=re.M)[1:], strict=True):
        assert body.strip(), f"{page.name}: section {section!r} is empty"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_index_links_the_playbook_with_owner_and_severity(name):
    kind = KINDS[name]
    rows = _index_rows()
    assert name in rows, f"README.md index has no row for {name}"
    cells = rows[name]
    assert len(cells) == 5, f"README.md row for {name}: expected 5 columns, got {cells}"
    _, owner, severity, meaning, link = cells
    assert owner == kind.default_owner
    assert severity == kind.severity
    assert meaning
    assert f"({kind.playbook}.md)" in link, f"README.md row for {name} does not link {kind.playbook}.md"


def test_no_playbook_without_a_kind():
    slugs = {kind.playbook for kind in KINDS.values()}
    orphans = [p.name for p in _pages() if p.name != "README.md" and p.stem not in slugs]
    assert not orphans, f"playbooks for unknown kinds: {orphans}"
    assert set(_index_rows()) == set(KINDS)


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text(encoding="utf-8")):
        assert (page.parent / target).is_file(), f"{page.name}: broken link {target}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_named_commands_exist_or_are_marked_coming(page):
    text = page.read_text(encoding="utf-8")
    for match in COMMAND_SPAN.finditer(text):
        span, coming = match.group(1), bool(match.group(2))
        words = _command_words(span)
        if words in CLI:
            assert not coming, f"{page.name}: `{span}` exists today but is marked (coming)"
            known = {opt for param in CLI[words].params for opt in getattr(param, "opts", ())}
            for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", span):
                assert option in known, f"{page.name}: `{span}`: {option} is not an option of {words}"
        else:
            assert words in PLANNED, f"{page.name}: `{span}` is neither a command today nor a planned one"
            assert coming, f"{page.name}: `{span}` is not in this version; mark it (coming)"

"""Reading brand files from disk: YAML -> pydantic -> cross-field checks, every failure as a Problem.

A bad topology file must never produce a traceback or a half-loaded brand. Each file is read on its own, so
one broken brand does not hide the problems of another, and a brand is only handed out when its file has no
problems.

The YAML reader is stricter than ``yaml.safe_load`` in two ways that matter for this file:
- a key given twice in one mapping is an error (PyYAML silently keeps the last one, which would drop a whole
  ``pools:`` section written twice);
- only ``true``/``false`` are booleans (YAML 1.1 also reads ``NO``, ``yes``, ``on``... as booleans, which
  turns Norway's country code into ``False``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from lockstep.config.topology import BrandTopology
from lockstep.config.validate import (
    ConfigError,
    Findings,
    Problem,
    check_topology,
    problems_from_validation_error,
)

BRAND_FILE_SUFFIXES = (".yaml", ".yml")

_BOOL = "tag:yaml.org,2002:bool"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and duplicate keys refused (see the module docstring)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: let the base class report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YAML12_BOOL = re.compile(r"^(?:true|false|True|False|TRUE|FALSE)$")
_StrictLoader.add_implicit_resolver(_BOOL, _YAML12_BOOL, list("tfTF"))


@dataclass
class LoadResult:
    """All brands of a config directory. ``brands`` holds only brands whose file has no problems."""

    brands: dict[str, BrandTopology] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # brand id -> its file, for messages and secrets

    @property
    def ok(self) -> bool:
        return not self.problems


def read_yaml(path: Path, display: str) -> tuple[object, list[Problem]]:
    """The parsed document, or problems saying why there is none (unreadable file, invalid YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(display, "", "file is not UTF-8 text")]
    except OSError as exc:
        return None, [Problem(display, "", f"cannot read file: {exc.strerror or exc}")]
    try:
        return yaml.load(text, Loader=_StrictLoader), []  # _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = " ".join(str(exc.problem or exc.context or "parse error").split())
        return None, [Problem(display, "", f"invalid YAML{where}: {reason}")]
    except yaml.YAMLError as exc:
        return None, [Problem(display, "", "invalid YAML: " + " ".join(str(exc).split()))]


def read_brand_file(path: Path | str, display: str | None = None) -> tuple[BrandTopology | None, Findings]:
    """Parse and check one brand file. The topology is returned whenever it parsed, even with cross-field
    problems (callers that need a usable brand must check ``findings.problems``); ``display`` names the file
    in problems (default: the path as given)."""
    path = Path(path)
    display = str(path) if display is None else display
    findings = Findings()
    document, findings.problems = read_yaml(path, display)
    if findings.problems:
        return None, findings
    if document is None:
        findings.problems.append(Problem(display, "", "file is empty; expected a brand topology"))
        return None, findings
    if not isinstance(document, dict):
        found = type(document).__name__
        message = f"top level must be a mapping (brand: ..., name: ..., pools: ...), not a {found}"
        findings.problems.append(Problem(display, "", message))
        return None, findings
    try:
        topology = BrandTopology.model_validate(document)
    except ValidationError as exc:
        findings.problems.extend(problems_from_validation_error(display, exc))
        return None, findings
    checked = check_topology(topology, display)
    findings.problems.extend(checked.problems)
    findings.warnings.extend(checked.warnings)
    return topology, findings


def load_brand_file(path: Path | str) -> BrandTopology:
    """A usable brand topology, or :class:`ConfigError` listing every problem in the file."""
    topology, findings = read_brand_file(path)
    if topology is None or findings.problems:
        raise ConfigError(findings.problems)
    return topology


def load_config_dir(directory: Path | str) -> LoadResult:
    """Every ``*.yaml``/``*.yml`` brand file in ``directory`` (not recursive; dot-files skipped)."""
    directory = Path(directory)
    result = LoadResult()
    if not directory.exists():
        result.problems.append(Problem(str(directory), "", "config directory does not exist"))
        return result
    if not directory.is_dir():
        result.problems.append(Problem(str(directory), "", "config path is not a directory"))
        return result
    paths = sorted(
        path
        for path in directory.iterdir()
        if path.suffix in BRAND_FILE_SUFFIXES and path.is_file() and not path.name.startswith(".")
    )
    if not paths:
        result.problems.append(Problem(str(directory), "", "no brand files (*.yaml, *.yml) in directory"))
        return result

    duplicated: set[str] = set()
    for path in paths:
        topology, findings = read_brand_file(path, display=path.name)
        result.problems.extend(findings.problems)
        result.warnings.extend(findings.warnings)
        if topology is None:
            continue
        if topology.brand in result.files:
            # Which of the two files is right is not for Lockstep to guess, so neither is loaded.
            duplicated.add(topology.brand)
            first = result.files[topology.brand].name
            message = f"duplicate brand id {topology.brand!r}, already defined in {first}"
            result.problems.append(Problem(path.name, "brand", message))
            continue
        result.files[topology.brand] = path
        if not findings.problems:
            result.brands[topology.brand] = topology
    for brand in duplicated:
        result.brands.pop(brand, None)
    return result

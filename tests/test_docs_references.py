"""README.md and the docs site name only what exists: repository paths, CLI commands, make targets.

Paths are read relative to the repository root (`src/...`, `tests/...`, `bench/...`, `docker/...`,
`docs/...`, `.ci/...`, `Makefile`, `Dockerfile.*`, the locks, `pyproject.toml`, `mkdocs.yml`) or,
for a package folder named alone (`clients/slo.py`), relative to `src/deploy_compare/`. A path
cut by a placeholder (`servers/<stack>/`) is checked up to the placeholder. Commands are read from
code (inline spans and code blocks): `deploy-compare <command>` against the CLI's command table,
`make <target>` against the Makefile's rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_compare.cli import COMMANDS

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]

PACKAGE_DIRS = (
    "models",
    "exporters",
    "runtimes",
    "bench_local",
    "edge",
    "servers",
    "clients",
    "deploy",
    "report",
    "commands",
    "wire",
)
ROOT_FILES = r"Makefile|pyproject\.toml|requirements(?:-triton)?\.lock|mkdocs\.yml|Dockerfile\.\w+"
PATH_RE = re.compile(
    r"(?<![\w./-])"
    r"(?P<path>(?:\.ci|src|tests|bench|docker|docs)/[\w./-]*"
    rf"|(?P<pkg>(?:{'|'.join(PACKAGE_DIRS)})/[\w./-]*)"
    rf"|(?:{ROOT_FILES})(?![\w.-]))"
)
PLACEHOLDER = "<{*"
FENCED_RE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_RE = re.compile(r"`([^`\n]+)`")
CLI_RE = re.compile(r"deploy-compare\s+(?:--[\w-]+\s+)*([a-z][\w-]*)")
MAKE_RE = re.compile(r"(?<![\w$(-])make\s+([a-z][\w-]*)")
MAKE_RULE_RE = re.compile(r"^([A-Za-z][\w.-]*)\s*:(?!=)", re.MULTILINE)


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def named_paths(text: str) -> Iterator[str]:
    """Every repository path the text names, normalised to the repository root, no trailing slash."""
    for match in PATH_RE.finditer(text):
        path = match.group("path")
        after = text[match.end() : match.end() + 1]
        if not (after and after in PLACEHOLDER):
            path = path.rstrip(".")  # a sentence's full stop
        if match.group("pkg"):
            path = f"src/deploy_compare/{path}"
        yield path.rstrip("/")


def code_of(text: str) -> list[str]:
    """The text's code: fenced blocks, indented blocks and inline spans."""
    fenced = FENCED_RE.findall(text)
    rest = FENCED_RE.sub("", text)
    indented = [line for line in rest.splitlines() if line.startswith("    ")]
    return [*fenced, *indented, *INLINE_RE.findall(rest)]


def make_targets() -> set[str]:
    return set(MAKE_RULE_RE.findall((REPO / "Makefile").read_text())) - {".PHONY"}


def references(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    """name -> the documents naming it, for a pattern run over every document's code."""
    found: dict[str, set[str]] = {}
    for doc in doc_files():
        for code in code_of(doc.read_text()):
            for name in pattern.findall(code):
                found.setdefault(name, set()).add(doc.relative_to(REPO).as_posix())
    return found


def all_named_paths() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for doc in doc_files():
        for path in named_paths(doc.read_text()):
            found.setdefault(path, set()).add(doc.relative_to(REPO).as_posix())
    return found


def _listing(missing: dict[str, set[str]]) -> str:
    return "\n".join(f"  {name}  (named in {', '.join(sorted(docs))})" for name, docs in sorted(missing.items()))


def test_the_docs_exist_and_the_readme_stays_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 150
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    assert {"index.md", "architecture.md", "development.md", "methodology.md"} <= pages


def test_every_named_path_exists():
    named = all_named_paths()
    assert len(named) > 20, f"the path pattern found only {sorted(named)}"
    missing = {p: docs for p, docs in named.items() if not (REPO / p).exists()}
    assert not missing, "paths named in README.md or docs/ that do not exist:\n" + _listing(missing)


def test_every_named_cli_command_exists():
    named = references(CLI_RE)
    assert "run" in named, "no `deploy-compare run` found: the command pattern is broken"
    missing = {c: docs for c, docs in named.items() if c not in COMMANDS}
    assert not missing, f"commands not in the CLI's table ({', '.join(COMMANDS)}):\n" + _listing(missing)


def test_every_named_make_target_exists():
    named = references(MAKE_RE)
    targets = make_targets()
    assert {"deploy-compare", "test"} <= set(named), "the two commands are not found: the make pattern is broken"
    missing = {t: docs for t, docs in named.items() if t not in targets}
    assert not missing, f"make targets not in the Makefile ({', '.join(sorted(targets))}):\n" + _listing(missing)


def test_the_readme_command_table_is_the_cli_command_table():
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)
    listed = {cell.split()[0] for cell in first_cells if not cell.startswith("make ")}
    assert listed == set(COMMANDS), f"README's command table: {sorted(listed)}; the CLI's: {sorted(COMMANDS)}"

"""Assemble the bundle's standalone run_edge.py from edge/runner.py and the pure modules it uses.

Why: the device must time, count and compute exactly as the local benchmark does, yet
it has only Python >= 3.9, numpy and a TFLite runtime, so it cannot import
deploy_compare. Instead of keeping copies of the pure modules inside the runner, the
script is built at bundle time from their source, in this order:

    #!/usr/bin/env python3, runner.py's docstring, a "generated" note
    from __future__ import annotations
    every top-level stdlib/numpy import of the parts, merged
    each pure module (PURE_MODULES, dependency order), then runner.py, each without its
    docstring, __future__ line and top-level imports (package-relative ones included:
    the names they import are defined above them in the same file)

Everything is checked on the AST, and an AssemblyError names the module and line when
a part imports anything but stdlib, numpy or an earlier pure module (the runner may also
import the TFLite runtimes lazily, inside a function), when two parts define the same
top-level name, or when the result is not Python 3.9 syntax.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeployCompareError

PACKAGE = "deploy_compare"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
#: the pure modules, each after the ones it imports (their code runs top to bottom in one file)
PURE_MODULES = (
    "batches",
    "errors",
    "fileio",
    "manifest",
    "quantization",
    "tflite_invoke",
    "bench_local.timing",
    "confidence",
    "statistics",
    "bench_local.procedure",
    "machine",
    "bench_local.result",
    "evaldata",
    "runtimes.base",
    "runtimes.tflite",
    "bench_local.job",
)
RUNNER_MODULE = "edge.runner"
THIRD_PARTY = frozenset({"numpy"})
#: imported only inside the runner's functions, so a device without them gets SKIPPED rows
RUNNER_LAZY = frozenset({"ai_edge_litert", "tflite_runtime"})
TARGET_VERSION = (3, 9)


class AssemblyError(DeployCompareError):
    """run_edge.py cannot be assembled: a part imports or defines something it must not."""


@dataclass
class _Imports:
    """The merged top-level imports of all parts, keyed by the name each one binds."""

    bound: dict[str, str] = field(default_factory=dict)  # bound name -> "import x" / "from m import n"
    plain: set[tuple[str, str | None]] = field(default_factory=set)  # (module, asname)
    names: dict[str, set[tuple[str, str | None]]] = field(default_factory=dict)  # module -> {(name, asname)}

    def bind(self, name: str, what: str, where: str) -> None:
        if self.bound.setdefault(name, what) != what:
            raise AssemblyError(f"{where}: `{what}` binds {name!r}, already bound by `{self.bound[name]}`")

    def add(self, node: ast.Import | ast.ImportFrom, where: str) -> None:
        for alias in node.names:
            if isinstance(node, ast.Import):
                self.plain.add((alias.name, alias.asname))
                self.bind(alias.asname or alias.name.split(".")[0], f"import {alias.name}", where)
            else:
                self.names.setdefault(node.module or "", set()).add((alias.name, alias.asname))
                self.bind(alias.asname or alias.name, f"from {node.module} import {alias.name}", where)

    def render(self) -> list[str]:
        def alias(name: str, asname: str | None) -> str:
            return name if asname is None else f"{name} as {asname}"

        def group(third_party: bool) -> list[str]:
            keep = [(m, a) for m, a in self.plain if (m.split(".")[0] in THIRD_PARTY) == third_party]
            lines = [f"import {alias(m, a)}" for m, a in sorted(keep, key=lambda p: (p[0], p[1] or ""))]
            for module in sorted(m for m in self.names if (m.split(".")[0] in THIRD_PARTY) == third_party):
                names = sorted(self.names[module], key=lambda p: (p[0], p[1] or ""))
                lines.append(f"from {module} import " + ", ".join(alias(n, a) for n, a in names))
            return lines

        stdlib, third = group(False), group(True)
        return stdlib + ([""] if stdlib and third else []) + third


def _path(module: str) -> Path:
    return PACKAGE_DIR.joinpath(*module.split(".")).with_suffix(".py")


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The package-relative dotted name a `from .x import ...` in `module` refers to."""
    base = module.split(".")[:-1]  # the importing module's package, relative to PACKAGE
    up = node.level - 1
    if up > len(base) or not node.module:
        raise AssemblyError(
            f"{_path(module)}:{node.lineno}: unsupported relative import "
            f"{'.' * node.level}{node.module or ''} (use `from .module import name`)"
        )
    return ".".join(base[: len(base) - up] + node.module.split("."))


def _check_nested_imports(module: str, tree: ast.Module) -> None:
    """Imports inside functions or blocks stay in place: they must be stdlib/numpy (or lazy TFLite)."""
    allowed = THIRD_PARTY | (RUNNER_LAZY if module == RUNNER_MODULE else frozenset())
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in top:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssemblyError(
                f"{_path(module)}:{node.lineno}: relative import inside a function or block "
                "cannot be assembled into run_edge.py; import at module level"
            )
        for name in [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]:
            root = name.split(".")[0]
            if root not in sys.stdlib_module_names and root not in allowed:
                raise AssemblyError(
                    f"{_path(module)}:{node.lineno}: imports {name}, which run_edge.py cannot "
                    f"rely on (allowed: stdlib, {', '.join(sorted(allowed))})"
                )


def _part(module: str, earlier: dict[str, set[str]], imports: _Imports) -> tuple[str, set[str], str | None]:
    """(body text, top-level names, docstring source) of one part; its imports go to `imports`."""
    path = _path(module)
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source, filename=str(path), feature_version=TARGET_VERSION)
    except SyntaxError as exc:
        raise AssemblyError(
            f"{path}:{exc.lineno}: not Python {TARGET_VERSION[0]}.{TARGET_VERSION[1]} syntax ({exc.msg})"
        ) from None
    lines = source.splitlines()
    drop: set[int] = set()  # 1-based line numbers left out of the body
    docstring = None
    if (
        tree.body
        and isinstance(tree.body[0], ast.Expr)
        and isinstance(tree.body[0].value, ast.Constant)
        and isinstance(tree.body[0].value.value, str)
    ):
        first = tree.body[0]
        last = first.end_lineno or first.lineno
        docstring = "\n".join(lines[first.lineno - 1 : last])
        drop.update(range(1, last + 1))  # with the shebang and anything else above it

    for node in tree.body:
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        where = f"{path}:{node.lineno}"
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            if [a.name for a in node.names] != ["annotations"]:
                raise AssemblyError(f"{where}: only `from __future__ import annotations` is supported")
        elif isinstance(node, ast.ImportFrom) and node.level:
            target = _resolve(module, node)
            if target not in earlier:
                raise AssemblyError(
                    f"{where}: imports {PACKAGE}.{target}, which is not a pure module listed "
                    f"before {module} in PURE_MODULES ({', '.join(PURE_MODULES)})"
                )
            for alias in node.names:
                if alias.asname or alias.name not in earlier[target]:
                    raise AssemblyError(
                        f"{where}: `{alias.name}{' as ' + alias.asname if alias.asname else ''}`"
                        f" is not a top-level name of {PACKAGE}.{target} imported unaliased"
                    )
        else:
            roots = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            bad = [r for r in roots if r.split(".")[0] not in sys.stdlib_module_names | THIRD_PARTY]
            if bad:
                raise AssemblyError(
                    f"{where}: imports {', '.join(bad)}; a part of run_edge.py may import only "
                    f"the stdlib, {', '.join(sorted(THIRD_PARTY))} and the pure modules"
                )
            imports.add(node, where)
        drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        above = node.lineno - 1  # a comment block right above an import is about the import
        while above >= 1 and lines[above - 1].lstrip().startswith("#"):
            drop.add(above)
            above -= 1
    _check_nested_imports(module, tree)
    body = "\n".join(line for n, line in enumerate(lines, start=1) if n not in drop).strip("\n")
    return body, _top_level_names(tree), docstring


def _banner(module: str) -> str:
    return f"# ---- {PACKAGE}/{module.replace('.', '/')}.py ".ljust(100, "-")


def assemble_runner() -> str:
    """The source of the standalone run_edge.py (raises AssemblyError; see the module docstring)."""
    imports = _Imports()
    defined: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    sections = []
    docstring = None
    for module in (*PURE_MODULES, RUNNER_MODULE):
        body, names, docstring = _part(module, defined, imports)
        for name in names:
            if name in owner or name in imports.bound:
                raise AssemblyError(
                    f"{_path(module)}: top-level name {name!r} is also defined by "
                    f"{owner.get(name) or 'an import'}; every part shares one namespace "
                    "in run_edge.py: rename one"
                )
            owner[name] = f"{PACKAGE}.{module}"
        defined[module] = names
        sections.append(f"{_banner(module)}\n\n\n{body}")
    if docstring is None:
        raise AssemblyError(f"{_path(RUNNER_MODULE)}: needs a module docstring (it becomes run_edge.py's)")
    header = [
        "#!/usr/bin/env python3",
        docstring,
        "",
        f"# Generated by `deploy-compare edge-bundle` ({PACKAGE}/edge/assemble.py) from the modules",
        "# named in the ---- banners below: edit those, not this file.",
        "",
        "from __future__ import annotations",
        "",
        *imports.render(),
    ]
    text = "\n".join(header) + "\n\n\n" + "\n\n\n".join(sections) + "\n"
    try:  # every part parsed alone; the whole must too (e.g. no section left half-open)
        ast.parse(text, filename="run_edge.py", feature_version=TARGET_VERSION)
    except SyntaxError as exc:
        raise AssemblyError(f"assembled run_edge.py line {exc.lineno}: {exc.msg}") from None
    return text

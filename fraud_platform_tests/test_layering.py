"""Layering rules a newcomer can rely on, checked on the source files (``ast``, ``tokenize``)
rather than by importing them, so an import inside a function or under ``TYPE_CHECKING`` counts.

* Data walks one way: the Dagster definitions (``fraud_platform/defs``) never import the viewer
  (``fraud_platform/viewer``), directly or through another ``fraud_platform`` module. What both
  need lives outside both (``fraud_platform/reporting.py``, ``fraud_platform/presentation``).
* Dagster's public API only: an import of a private Dagster module or name (``dagster._core``,
  ``from dagster import _check``) carries a comment on its line or just above it saying which
  public API is missing ("public API") and linking the Dagster issue.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections import deque
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fraud_platform"
DEFS = "fraud_platform.defs"
VIEWER = "fraud_platform.viewer"
#: What a comment excusing a private Dagster import must say.
EXCUSE = "public API"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imported_names(path: Path) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every module an ``import`` statement of ``path`` names (relative imports resolved), with
    ``module.name`` too for ``from module import name`` (``name`` may be a submodule)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node, base
            for alias in node.names:
                yield node, f"{base}.{alias.name}"


def loaded_modules(imported: str) -> list[str]:
    """The platform modules that importing ``imported`` runs: it and its parent packages."""
    parts = imported.split(".")
    prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return [prefix for prefix in prefixes if prefix in MODULES]


@cache
def platform_imports(name: str) -> frozenset[str]:
    """The platform modules that importing ``name`` runs directly."""
    return frozenset(
        loaded
        for _, imported in imported_names(MODULES[name])
        for loaded in loaded_modules(imported)
        if loaded != name
    )


def viewer_import_chain(start: str) -> list[str] | None:
    """The shortest chain of imports from ``start`` to a viewer module, or None."""
    parents: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for nxt in sorted(platform_imports(current)):
            if nxt in parents:
                continue
            parents[nxt] = current
            if within(nxt, VIEWER):
                chain = [nxt]
                while (step := parents[chain[-1]]) is not None:
                    chain.append(step)
                return chain[::-1]
            queue.append(nxt)
    return None


@pytest.mark.parametrize("name", sorted(m for m in MODULES if within(m, DEFS)))
def test_the_dagster_definitions_never_import_the_viewer(name: str) -> None:
    chain = viewer_import_chain(name)
    assert chain is None, (
        " -> ".join(chain or [])
        + ": the definitions must not import the viewer; move what both need out of "
        "fraud_platform/viewer (e.g. into fraud_platform/reporting.py)"
    )


def is_private_dagster(imported: str) -> bool:
    """Whether ``imported`` is a private module or name of Dagster or one of its libraries."""
    parts = imported.split(".")
    return parts[0].startswith("dagster") and any(part.startswith("_") for part in parts[1:])


def comments_by_line(source: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}


def excused(node: ast.stmt, lines: list[str], comments: dict[int, str]) -> bool:
    """A comment naming the missing public API on the statement's lines, or in the block of
    comment lines right above it."""
    end = node.end_lineno or node.lineno
    if any(EXCUSE in comments.get(n, "") for n in range(node.lineno, end + 1)):
        return True
    line = node.lineno - 1
    while line >= 1 and lines[line - 1].lstrip().startswith("#"):
        if EXCUSE in comments.get(line, ""):
            return True
        line -= 1
    return False


def test_private_dagster_imports_say_which_public_api_is_missing() -> None:
    unexcused: dict[str, str] = {}  # file:line -> the first private name its import names
    for path in MODULES.values():
        source = path.read_text()
        lines, comments = source.splitlines(), comments_by_line(source)
        for node, imported in imported_names(path):
            if is_private_dagster(imported) and not excused(node, lines, comments):
                unexcused.setdefault(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", imported)
    assert not unexcused, (
        "Use Dagster's public API (what `dagster/__init__.py` exports), or say in a comment on "
        f"or just above the import which {EXCUSE} is missing, with the Dagster issue:\n"
        + "\n".join(f"{where} imports {name}" for where, name in sorted(unexcused.items()))
    )


def test_the_checks_see_what_they_must() -> None:
    """The checks above would pass vacuously if the walk missed imports: it sees one made inside
    a function (`cli` imports the viewer's server in ``serve``), names imported from a module,
    and a comment block above a private import (`launcher`'s)."""
    assert sum(within(m, DEFS) for m in MODULES) > 20
    assert viewer_import_chain("fraud_platform.cli") is not None
    assert "fraud_platform.reporting" in platform_imports("fraud_platform.defs.datasets.assets")
    assert is_private_dagster("dagster._core.launcher") and is_private_dagster("dagster._check")
    assert not is_private_dagster("dagster.Field") and not is_private_dagster("fraud_platform._x")
    launcher = MODULES["fraud_platform.launcher"]
    source = launcher.read_text()
    lines, comments = source.splitlines(), comments_by_line(source)
    private = [node for node, name in imported_names(launcher) if is_private_dagster(name)]
    assert private and all(excused(node, lines, comments) for node in private)


def test_the_partition_tags_spelled_by_the_alerts_are_dagsters() -> None:
    """`dagster` exports no constants for these tags; an upgrade that renames one fails here."""
    # The comparison itself needs the private module: no public API exports these tags.
    from dagster._core.storage import tags

    from fraud_platform.defs.alerts import logic

    assert logic.PARTITION_NAME_TAG == tags.PARTITION_NAME_TAG
    assert logic.ASSET_PARTITION_RANGE_START_TAG == tags.ASSET_PARTITION_RANGE_START_TAG
    assert logic.ASSET_PARTITION_RANGE_END_TAG == tags.ASSET_PARTITION_RANGE_END_TAG

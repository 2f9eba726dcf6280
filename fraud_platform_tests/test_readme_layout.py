"""The README's code layout matches the tree: what it names exists, and every room is named."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NAMED_FILE = re.compile(r"(?<![\w/.-])([\w-]+\.(?:py|toml|sh|yaml))\b")
NAMED_FOLDER = re.compile(r"(?<![\w.-])([\w/<>-]+)/")


def _layout() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Code layout", 1)[1]
    return section.split("```", 2)[1]


def _tracked_files() -> list[Path]:
    roots = ("fraud_platform", "fraud_platform_tests", "benchmarks", "deploy")
    return [p for root in roots for p in (REPO / root).rglob("*") if p.is_file()]


def test_every_file_the_layout_names_exists():
    names = {p.name for p in _tracked_files()}
    missing = sorted(set(NAMED_FILE.findall(_layout())) - names)
    assert not missing, f"README's code layout names files that do not exist: {missing}"


def test_every_package_module_and_area_is_named():
    layout = _layout()
    folders = {part for path in NAMED_FOLDER.findall(layout) for part in path.split("/")}
    files = set(NAMED_FILE.findall(layout))
    package = REPO / "fraud_platform"
    unnamed = [
        p.name
        for p in sorted(package.iterdir())
        if (p.is_dir() and (p / "__init__.py").exists() and p.name not in folders)
        or (p.suffix == ".py" and p.name != "__init__.py" and p.name not in files)
    ]
    areas = [p.name for p in sorted((package / "defs").iterdir()) if (p / "__init__.py").exists()]
    unnamed += [f"defs/{area}" for area in areas if area not in layout.split("— each with")[0]]
    assert not unnamed, f"README's code layout does not name: {unnamed}"
    for folder in ("fraud_platform_tests", "benchmarks", "deploy"):
        assert f"\n{folder}/" in layout

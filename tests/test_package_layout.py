"""The installed names and the arrows between the packages: the five source folders import one
another only as pixsift.<name>, and search (the library) imports none of the others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import SOURCE_FOLDERS

ROOT = Path(__file__).resolve().parents[1]


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def modules_of(folder: str) -> list[Path]:
    return [path for path in (ROOT / folder).rglob("*.py") if "versions" not in path.parts]


@pytest.mark.parametrize("folder", SOURCE_FOLDERS)
def test_no_module_imports_a_bare_source_folder(folder: str) -> None:
    bare = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules_of(folder)
        for name in imported_names(path)
        if name.split(".")[0] in SOURCE_FOLDERS
    }
    assert not bare


def test_the_library_imports_none_of_the_packages_that_use_it() -> None:
    above = tuple(f"pixsift.{name}" for name in ("web", "indexer", "cli", "migrations"))
    upward = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules_of("search")
        for name in imported_names(path)
        if name == "pixsift" or name.startswith(above)
    }
    assert not upward

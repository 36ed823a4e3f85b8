"""The packages depend on each other in one direction:

    forms <- scanner <- intake -> attendance (the domain) <- review_ui

The domain may use `forms` (the layout is what a sheet is) and nothing above it; the command
line (`cli`) sits on top of them all and nothing imports it. Every import counts, the ones
inside functions too: an import hidden in a function is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIRST_PARTY = {
    "attendance",
    "forms",
    "scanner",
    "intake",
    "review_ui",
    "cli",
    "fixtures",
    "training",
    "tests",
    "scripts",
}

# What each package may import of the project's own packages (besides itself).
ALLOWED: dict[str, set[str]] = {
    "forms": set(),
    "scanner": {"forms"},
    "attendance": {"forms"},
    "intake": {"attendance", "scanner", "forms"},
    "review_ui": {"attendance", "intake", "scanner", "forms"},
    "cli": {"attendance", "intake", "scanner", "forms", "review_ui"},
    # Test data: generated sheets and scans, and whole sites built by the real commands.
    "fixtures": {"attendance", "intake", "scanner", "forms", "review_ui", "cli"},
    "training": {"scanner", "forms", "fixtures"},
    # Benchmarks time what users run: any package, but never the tests.
    "scripts": {
        "attendance",
        "intake",
        "scanner",
        "forms",
        "review_ui",
        "cli",
        "fixtures",
        "training",
    },
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The first-party packages a file imports, with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top in FIRST_PARTY:
                found.add((top, node.lineno))
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependencies_point_one_way(package: str) -> None:
    wrong = []
    for path in sorted((REPO / package).rglob("*.py")):
        for imported, line in sorted(imported_packages(path)):
            if imported != package and imported not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    assert wrong == []


def test_no_package_of_the_product_imports_the_command_line() -> None:
    """(Test data generators and benchmarks run commands in-process: they may.)"""
    wrong = [
        f"{path.relative_to(REPO)}:{line}"
        for package in ("forms", "scanner", "attendance", "intake", "review_ui", "training")
        for path in sorted((REPO / package).rglob("*.py"))
        for imported, line in imported_packages(path)
        if imported == "cli"
    ]
    assert wrong == []


def test_pages_are_registered_and_warped_only_inside_the_scanner() -> None:
    """Everything else reads a page through the composer (`scanner.pipeline.read_page`,
    `read_page_as`), so there is one page path. (`scripts/bench_register.py` times the
    scanner's registration step itself.)"""
    steps = {"register_page", "warp_to_canon"}
    wrong = []
    for package in ("attendance", "intake", "review_ui", "cli", "fixtures", "training", "scripts"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path == REPO / "scripts" / "bench_register.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in steps:
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno} calls {name}")
    assert wrong == []

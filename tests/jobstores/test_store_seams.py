"""The job stores meet the scheduler at its context and the loop at the store contract, never at
the scheduler's or the loop's internals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import obssched.jobstores

STORE_MODULES = sorted(Path(obssched.jobstores.__file__).parent.rglob("*.py"))
SCHEDULER_PRIVATES = {"_dispatch_event", "_lookup_executor", "_next_run_id", "_submit"}


def module_id(path: Path) -> str:
    """The module's path under the jobstores package."""
    return str(path.relative_to(Path(obssched.jobstores.__file__).parent))


@pytest.mark.parametrize("path", STORE_MODULES, ids=module_id)
def test_a_store_module_reads_no_scheduler_internals(path: Path) -> None:
    """No store module calls the scheduler's private methods or reads another object's
    ``_scheduler``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    reads = [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)  # a loaded job is given its scheduler, as in 3.x
        and (
            node.attr in SCHEDULER_PRIVATES
            or (node.attr == "_scheduler" and not _is_self(node.value))
        )
    ]
    assert reads == []


@pytest.mark.parametrize("path", STORE_MODULES, ids=module_id)
def test_a_store_module_does_not_import_the_schedulers(path: Path) -> None:
    """Stores depend on no scheduler module (the run-time arithmetic lives in
    ``obssched._runtimes``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module is not None
        and node.module.startswith("obssched.schedulers")
        and not _under_type_checking(tree, node)
    ]
    assert imported == []


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _under_type_checking(tree: ast.Module, target: ast.stmt) -> bool:
    """Whether ``target`` sits in an ``if TYPE_CHECKING:`` block (a type-only import)."""
    return any(
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        and any(target is child for child in ast.walk(node))
        for node in ast.walk(tree)
    )

"""Screens do not import one another to navigate: they ask the app for a route
(``bexsync_tui/routes.py``); shared actions and widgets live outside ``screens``. Only the
base screen and the dialogs are shared from there."""

from __future__ import annotations

import ast
from pathlib import Path

import bexsync_tui.screens as screens
from bexsync_tui.routes import ROUTES, screen_for

SHARED = {"bexsync_tui.screens.base", "bexsync_tui.screens.dialogs"}


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_screen_imports_another() -> None:
    folder = Path(screens.__file__).parent
    offenders = {
        path.name: sorted(m for m in imported(path) if m.startswith("bexsync_tui.screens."))
        for path in folder.glob("*.py")
    }
    offenders = {
        name: [m for m in modules if m not in SHARED] for name, modules in offenders.items()
    }
    assert {name: m for name, m in offenders.items() if m} == {}


def test_every_route_names_a_screen() -> None:
    import importlib

    for route, target in ROUTES.items():
        module_name, class_name = target.split(":")
        module = importlib.import_module(f"bexsync_tui.screens.{module_name}")
        assert hasattr(module, class_name), route
    assert screen_for("pms_connect").__class__.__name__ == "PmsConnectScreen"

"""Where a screen can go, by name: screens ask the app (``app.open(route, ...)``), they never
import one another to navigate, so the screens form no import circle (the way posting and
harlequin route through their app). A route names its screen by module path; the module is
imported when the route is first taken.
"""

from __future__ import annotations

import importlib
from typing import Any

from textual.screen import Screen

ROUTES: dict[str, str] = {
    "add_authorisation": "add_authorisation:AddAuthorisationScreen",
    "configurations": "configurations:ConfigurationsScreen",
    "configuration_view": "configuration_view:ConfigurationViewScreen",
    "configuration_form": "configuration_form:ConfigurationFormScreen",
    "mappings": "mappings:MappingsScreen",
    "period": "period:PeriodScreen",
    "preview": "preview:PreviewScreen",
    "entry_detail": "entry_detail:EntryDetailScreen",
    "pms_connect": "pms_connect:PmsConnectScreen",
}


def screen_for(route: str, *args: Any, **kwargs: Any) -> Screen[Any]:
    """A new screen for ``route`` (a KeyError names an unknown route: a programming error)."""
    module_name, class_name = ROUTES[route].split(":")
    module = importlib.import_module(f"bexsync_tui.screens.{module_name}")
    screen: Screen[Any] = getattr(module, class_name)(*args, **kwargs)
    return screen

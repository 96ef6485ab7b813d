"""Each accounting provider's settings (app registration, endpoint overrides) and the list of
providers the daemon offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers import registry
from providers.settings import ProviderSettings


class ProviderSettingsBook:
    """The config file's ``[providers.<id>]`` tables, plus the endpoints the demo registers
    for its simulators at start-up (as if they were in the file)."""

    def __init__(self, tables: Mapping[str, ProviderSettings]) -> None:
        self._tables = dict(tables)

    def get(self, provider_id: str) -> ProviderSettings:
        return self._tables.get(provider_id) or ProviderSettings(provider_id)

    def add(self, provider_id: str, settings: ProviderSettings) -> None:
        self._tables[provider_id] = settings

    def catalog(self) -> list[dict[str, Any]]:
        """providers.list: every provider with its login kind and whether its app is set up."""
        out = []
        for spec in registry.all_specs():
            item = spec.info.as_dict()
            item["login"] = spec.login.kind
            item["registered"] = (
                not spec.needs_app_registration or self.get(spec.info.id).registered
            )
            out.append(item)
        return out

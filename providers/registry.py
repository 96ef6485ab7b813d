"""Every provider id the daemon knows, with its description and how to build an adapter.

Adapters register here and nowhere else; the daemon looks providers up by id only.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

from providers.base import Provider, ProviderInfo
from providers.context import ProviderContext
from providers.login import LoginMethod, NoLogin


@dataclass(frozen=True)
class ProviderSpec:
    info: ProviderInfo
    module: str
    factory: str
    needs_app_registration: bool = False
    login: LoginMethod = field(default_factory=NoLogin)

    def create(self, ctx: ProviderContext) -> Provider:
        module = importlib.import_module(self.module)
        build: Callable[[ProviderContext], Provider] = getattr(module, self.factory)
        return build(ctx)


_SPECS: dict[str, ProviderSpec] = {}


def register(spec: ProviderSpec) -> None:
    _SPECS[spec.info.id] = spec


def get(provider_id: str) -> ProviderSpec | None:
    _load_builtin()
    return _SPECS.get(provider_id)


def all_specs() -> list[ProviderSpec]:
    _load_builtin()
    return [_SPECS[k] for k in sorted(_SPECS)]


# CONTRACT.md section 4. Each id is served by the module ``providers.<id>`` exporting ``SPEC``.
PROVIDER_IDS = (
    "acd",
    "business_central",
    "cegid_loop",
    "chift",
    "inqom",
    "minox",
    "myunisoft",
    "odoo",
    "pennylane",
    "sage100fr",
    "sandbox",
    "tiime",
    "xero",
)
_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for provider_id in PROVIDER_IDS:
        name = f"providers.{provider_id}"
        if importlib.util.find_spec(name) is None:
            continue  # not implemented yet
        module = importlib.import_module(name)
        spec = getattr(module, "SPEC", None)
        if spec is not None:
            register(spec)

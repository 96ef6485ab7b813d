"""Every provider id the daemon knows, with its description and how to build an adapter.

The table ``ADAPTERS`` is the registration: each id names the adapter class that serves it,
and the ``ProviderSpec`` is read from that class's declarations (``info``, ``login``,
``needs_app_registration``). The daemon looks providers up by id only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
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

    @classmethod
    def of(cls, adapter: type[Provider]) -> ProviderSpec:
        """The spec an adapter class declares (``info``, ``login``, app registration)."""
        return cls(
            info=adapter.info,
            module=adapter.__module__,
            factory=adapter.__qualname__,
            needs_app_registration=bool(getattr(adapter, "needs_app_registration", False)),
            login=getattr(adapter, "login", None) or NoLogin(),
        )

    def create(self, ctx: ProviderContext) -> Provider:
        module = importlib.import_module(self.module)
        build: Callable[[ProviderContext], Provider] = getattr(module, self.factory)
        return build(ctx)


# CONTRACT.md section 4: provider id -> "module:AdapterClass".
ADAPTERS: Mapping[str, str] = {
    "acd": "providers.acd:AcdProvider",
    "business_central": "providers.business_central:BusinessCentralProvider",
    "cegid_loop": "providers.cegid_loop:CegidLoopProvider",
    "chift": "providers.chift:ChiftProvider",
    "inqom": "providers.inqom:InqomProvider",
    "minox": "providers.minox:MinoxProvider",
    "myunisoft": "providers.myunisoft:MyUnisoftProvider",
    "odoo": "providers.odoo:OdooProvider",
    "pennylane": "providers.pennylane:PennylaneProvider",
    "sage100fr": "providers.sage100fr:Sage100FrProvider",
    "sandbox": "providers.sandbox:SandboxProvider",
    "tiime": "providers.tiime:TiimeProvider",
    "xero": "providers.xero:XeroProvider",
}
PROVIDER_IDS = tuple(ADAPTERS)

_SPECS: dict[str, ProviderSpec] = {}


def register(spec: ProviderSpec) -> None:
    """Add a provider at run time (benchmarks register a synthetic one)."""
    _SPECS[spec.info.id] = spec


def _builtin(provider_id: str) -> ProviderSpec | None:
    target = ADAPTERS.get(provider_id)
    if target is None:
        return None
    module, _, name = target.partition(":")
    spec = ProviderSpec.of(getattr(importlib.import_module(module), name))
    _SPECS[provider_id] = spec
    return spec


def get(provider_id: str) -> ProviderSpec | None:
    return _SPECS.get(provider_id) or _builtin(provider_id)


def all_specs() -> list[ProviderSpec]:
    for provider_id in ADAPTERS:
        get(provider_id)
    return [_SPECS[k] for k in sorted(_SPECS)]

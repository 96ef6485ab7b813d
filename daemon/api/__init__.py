"""The RPC methods of CONTRACT.md section 3: typed params and results, declared once, thin over
the services they call through ``backend.ApiBackend``."""

from daemon.api import authorisations, configurations, daemon_methods, notifications, syncs
from daemon.api.backend import ApiBackend
from daemon.rpc.registry import Registry


def build_registry() -> Registry[ApiBackend]:
    registry: Registry[ApiBackend] = Registry()
    for module in (daemon_methods, authorisations, configurations, syncs, notifications):
        registry.include(module.registry)
    return registry


__all__ = ["build_registry"]

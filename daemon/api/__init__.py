"""The RPC methods of CONTRACT.md section 3: typed params, declared once, thin over services."""

from daemon.api import authorisations, configurations, daemon_methods, notifications, syncs
from daemon.rpc.registry import Registry


def build_registry() -> Registry:
    registry = Registry()
    for module in (daemon_methods, authorisations, configurations, syncs, notifications):
        registry.include(module.registry)
    return registry


__all__ = ["build_registry"]

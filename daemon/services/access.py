"""Access to an administration, enforced: without it no configuration of it syncs.

Removing access (unticked in the TUI, or BEX no longer listing the administration for this app)
pauses every configuration of it: state ``no_access``, no next due time, no scheduled run, and
``syncs.run``/``syncs.preview`` refuse, naming what is missing and how to restore it. One
notification says so; restoring access resumes them and the scheduler catches up what was missed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from daemon.errors import Conflict
from daemon.labels import configuration_label
from daemon.services.notifications import Notifications
from daemon.store.interface import Store
from daemon.store.records import Administration, Configuration, NewNotification

log = logging.getLogger("bexsync.pms")


def restore_hint(admin_id: str) -> str:
    return (
        "Tick it again under Access in the TUI, or run: bexsync call administrations.set_access "
        f'\'{{"id": "{admin_id}", "access": true}}\' (after granting it to the app in BEX if '
        "BEX removed it)."
    )


def require_access(cfg: Configuration) -> None:
    """Refuse to read the PMS for a configuration whose administration has no access."""
    if cfg.access:
        return
    raise Conflict(
        f"{configuration_label(cfg)} is paused: bexsync has no access to administration "
        f"{cfg.administration_number} {cfg.administration_name}. "
        + restore_hint(cfg.administration_id),
        details={
            "configuration_id": cfg.id,
            "administration_id": cfg.administration_id,
            "state": "no_access",
        },
    )


class AdministrationAccess:
    def __init__(
        self,
        *,
        store: Store,
        notifications: Notifications,
        changed: Callable[[int], Awaitable[object]],
    ) -> None:
        self._store = store
        self._notifications = notifications
        self._changed = changed  # announces a configuration's new state and wakes the scheduler

    async def change(self, admin: Administration, access: bool, reason: str = "") -> None:
        """Grant or remove access; a change that pauses or resumes configurations says so once."""
        configs = [
            c for c in await self._store.configurations.all() if c.administration_id == admin.id
        ]
        note = None
        if access != admin.access and configs:
            note = self._note(admin, access, configs, reason)
        created = await self._store.administrations.set_access(admin.id, access, note)
        self._notifications.publish(created)
        if access != admin.access:
            for cfg in configs:  # resumed ones catch up at once; paused ones leave the plan
                await self._changed(cfg.id)

    @staticmethod
    def _note(
        admin: Administration, access: bool, configs: list[Configuration], reason: str
    ) -> NewNotification:
        names = "; ".join(configuration_label(c) for c in configs)
        link = {"kind": "entries", "configuration_id": configs[0].id, "entry_id": None}
        if access:
            return NewNotification(
                "info",
                f"Access restored: {admin.number} {admin.name}",
                f"Syncing resumes and missed periods are caught up: {names}.",
                link,
            )
        why = reason or "access to it was removed"
        return NewNotification(
            "warning",
            f"Paused, no access: {admin.number} {admin.name}",
            f"{why[0].upper()}{why[1:]}, so these configurations are paused and sync nothing: "
            f"{names}. {restore_hint(admin.id)}",
            link,
        )

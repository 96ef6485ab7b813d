"""The PMS connection and the administrations it lists, with the user's access flag."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

from daemon.rpc.errors import NotFound, ProviderFailure, ValidationFailed
from daemon.services.common import iso
from providers.bex.client import BexClient
from providers.bex.mapping import RATE_LIMIT
from providers.bex.models import PmsAdministration
from providers.errors import ProviderError
from providers.redact import register_secret


def shape(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "number": row["number"],
        "name": row["name"],
        "currency": row["currency"],
        "timezone": row["timezone"],
        "access": bool(row["access"]),
    }


class Administrations:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._client: BexClient | None = None

    # -- PMS connection -------------------------------------------------------------------
    async def pms_row(self) -> sqlite3.Row | None:
        return await self.app.db.fetchone("SELECT * FROM pms_connection WHERE id = 1")

    async def pms_get(self) -> dict[str, Any]:
        row = await self.pms_row()
        if row is None:
            return {
                "kind": "bex",
                "base_url": None,
                "status": "not_connected",
                "message": "No PMS connection yet: call pms.connect with the API base URL and key.",
            }
        return {
            "kind": row["kind"],
            "base_url": row["base_url"],
            "status": row["status"],
            "message": row["message"],
        }

    def client(self, base_url: str, api_key: str | None) -> BexClient:
        return BexClient(
            base_url,
            api_key=api_key,
            transport=self.app.pms_transport,
            page_size=self.app.config.pms_page_size,
            rate_limit=dataclasses.replace(
                RATE_LIMIT,
                calls=self.app.config.pms_calls_per_15min,
                burst=(self.app.config.pms_calls_per_minute, 60.0),
            ),
        )

    async def pms_client(self) -> BexClient:
        """The one PMS client (connection pool, rate limiter) every sync shares.

        Building an HTTP client loads the CA bundle (~25 ms); per run that dominated a catch-up.
        """
        if self._client is not None:
            return self._client
        row = await self.pms_row()
        if row is None:
            raise ValidationFailed(
                "bexsync is not connected to the PMS yet.",
                errors=[{"field": "pms", "message": "connect the PMS first (pms.connect)"}],
            )
        if self._client is None:
            self._client = self.client(row["base_url"], self._key(row))
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _key(self, row: sqlite3.Row | None) -> str | None:
        """The stored PMS key (sealed like every credential when a key file is set)."""
        if row is None or not row["api_key"]:
            return None
        key = self.app.unseal(row["api_key"])
        register_secret(key)
        return str(key)

    async def pms_connect(self, base_url: str | None, api_key: str | None) -> dict[str, Any]:
        """Verify the PMS answers with these settings, then store them and its administrations."""
        row = await self.pms_row()
        url = base_url or (row["base_url"] if row else None) or self.app.config.pms.get("api_url")
        key = api_key or self._key(row)
        if not url:
            raise ValidationFailed(
                "The PMS API base URL is missing.",
                errors=[{"field": "base_url", "message": "required on the first connection"}],
            )
        if not url.startswith(("http://", "https://")):
            raise ValidationFailed(
                "The PMS API base URL must start with http:// or https://.",
                errors=[{"field": "base_url", "message": "must be an http(s) URL"}],
            )
        if key:
            register_secret(key)
        client = self.client(url, key)
        try:
            admins = await client.list_administrations()
        except ProviderError as exc:
            await client.aclose()
            raise ProviderFailure.from_provider_error(exc) from None
        await self.store_connection(url, key, admins)
        old, self._client = self._client, client
        if old is not None:
            await old.aclose()
        return await self.pms_get()

    async def store_connection(
        self, url: str, key: str | None, admins: list[PmsAdministration]
    ) -> None:
        now = iso(self.app.clock())
        message = f"Connected; {len(admins)} administrations available."
        async with self.app.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO pms_connection (id, kind, base_url, api_key, status, message, "
                "updated_at) VALUES (1, 'bex', ?, ?, 'connected', ?, ?) ON CONFLICT(id) DO UPDATE "
                "SET base_url = excluded.base_url, api_key = excluded.api_key, "
                "status = excluded.status, message = excluded.message, "
                "updated_at = excluded.updated_at",
                (url, self.app.seal(key) if key else None, message, now),
            )
            for a in admins:
                await conn.execute(
                    "INSERT INTO administrations (id, number, name, currency, timezone) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET number = excluded.number,"
                    " name = excluded.name, currency = excluded.currency, "
                    "timezone = excluded.timezone",
                    (a.id, a.number, a.name, a.currency, a.timezone),
                )

    # -- administrations ------------------------------------------------------------------
    async def list(self) -> list[dict[str, Any]]:
        rows = await self.app.db.fetchall("SELECT * FROM administrations ORDER BY number, id")
        return [shape(r) for r in rows]

    async def get_row(self, admin_id: str) -> sqlite3.Row:
        row = await self.app.db.fetchone("SELECT * FROM administrations WHERE id = ?", (admin_id,))
        if row is None:
            raise NotFound(f"No administration with id {admin_id!r}.")
        return row

    async def set_access(self, admin_id: str, access: bool) -> dict[str, Any]:
        await self.get_row(admin_id)
        await self.app.db.execute(
            "UPDATE administrations SET access = ? WHERE id = ?", (int(access), admin_id)
        )
        return shape(await self.get_row(admin_id))

"""The ``sandbox`` provider: a local SQLite ledger for the demo and for dry runs.

It behaves like a strict accounting API (unbalanced entries, unknown accounts and locked periods
are refused; an idempotency key replays the first result) so the engine is exercised for real.
Anyone can audit it: ``sqlite3 sandbox-ledger.sqlite3 'select * from journal_entries'``.

Checked against: nothing external: it is bexsync's own ledger, held to the same contract
tests as every provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from providers.base import Account, JournalEntry, Ledger, PostedEntry, TaxCode, Tenant, VerifyResult
from providers.catalog import CATALOG
from providers.chart import CHART, VAT_CODES
from providers.context import ProviderContext
from providers.entry_checks import SIGN_MESSAGE, too_few_lines, too_precise, unbalanced
from providers.errors import FieldError, period_locked, rejected

LEDGER_FILE = "sandbox-ledger.sqlite3"

LEDGERS: tuple[tuple[str, str, str], ...] = (
    ("MEM", "MEM", "Memorial"),
    ("BEX", "BEX", "Booking Experts postings"),
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (code TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tax_codes (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, rate TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledgers (id TEXT PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal_entries (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    ledger_id TEXT NOT NULL REFERENCES ledgers(id),
    date TEXT NOT NULL,
    narration TEXT NOT NULL,
    currency TEXT NOT NULL,
    total TEXT NOT NULL,
    posted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_entries_reference ON journal_entries(reference);
CREATE TABLE IF NOT EXISTS journal_lines (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES journal_entries(id),
    account TEXT NOT NULL REFERENCES accounts(code),
    description TEXT NOT NULL,
    vat_code TEXT,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL
);
"""


class SandboxLedger:
    """Synchronous access to the ledger file; the provider runs it in a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # A new ledger is 0600 whatever the umask (it holds the books); never through a symlink.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        with self._connect() as conn:
            conn.executescript(SCHEMA)
            conn.executemany("INSERT OR IGNORE INTO accounts VALUES (?, ?)", CHART)
            conn.executemany("INSERT OR IGNORE INTO tax_codes VALUES (?, ?, ?)", VAT_CODES)
            conn.executemany("INSERT OR IGNORE INTO ledgers VALUES (?, ?, ?)", LEDGERS)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def lock_until(self, day: str | None) -> None:
        """Lock every date up to and including ``day`` (None unlocks): a closed period."""
        with self._connect() as conn:
            if day is None:
                conn.execute("DELETE FROM settings WHERE key = 'lock_date'")
            else:
                conn.execute("INSERT OR REPLACE INTO settings VALUES ('lock_date', ?)", (day,))

    def accounts(self) -> list[sqlite3.Row]:
        with self._connect() as conn:
            return conn.execute("SELECT code, name FROM accounts ORDER BY code").fetchall()

    def tax_codes(self) -> list[sqlite3.Row]:
        with self._connect() as conn:
            return conn.execute("SELECT code, name, rate FROM tax_codes ORDER BY code").fetchall()

    def ledgers(self) -> list[sqlite3.Row]:
        with self._connect() as conn:
            return conn.execute("SELECT id, code, name FROM ledgers ORDER BY code").fetchall()

    def post(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            replay = conn.execute(
                "SELECT id, reference FROM journal_entries WHERE idempotency_key = ?",
                (idempotency_key,),
            ).fetchone()
            if replay is not None:
                return PostedEntry(str(replay["id"]), replay["reference"])
            self._check(conn, entry)
            cur = conn.execute(
                "INSERT INTO journal_entries (reference, idempotency_key, ledger_id, date, "
                "narration, currency, total, posted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.reference,
                    idempotency_key,
                    entry.ledger_id,
                    entry.date.isoformat(),
                    entry.narration,
                    entry.currency,
                    f"{entry.total_debit:.2f}",
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
            entry_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO journal_lines (entry_id, account, description, vat_code, debit, "
                "credit) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        entry_id,
                        line.account,
                        line.description,
                        line.vat_code,
                        f"{line.debit:.2f}",
                        f"{line.credit:.2f}",
                    )
                    for line in entry.lines
                ],
            )
            return PostedEntry(str(entry_id), entry.reference)

    def _check(self, conn: sqlite3.Connection, entry: JournalEntry) -> None:
        lock = conn.execute("SELECT value FROM settings WHERE key = 'lock_date'").fetchone()
        if lock is not None and entry.date.isoformat() <= lock["value"]:
            raise period_locked(
                "sandbox", f"the sandbox ledger is locked up to {lock['value']}; unlock it first"
            )
        problems = too_few_lines(entry, 2) + unbalanced(entry) + too_precise(entry)
        known = {row[0] for row in conn.execute("SELECT code FROM accounts")}
        taxes = {row[0] for row in conn.execute("SELECT code FROM tax_codes")}
        ledgers = {row[0] for row in conn.execute("SELECT id FROM ledgers")}
        if entry.ledger_id not in ledgers:
            problems.append(FieldError("ledger_id", f"unknown ledger {entry.ledger_id!r}"))
        for i, line in enumerate(entry.lines):
            if line.account not in known:
                problems.append(
                    FieldError(f"lines[{i}].account", f"unknown account {line.account}")
                )
            if line.vat_code is not None and line.vat_code not in taxes:
                problems.append(
                    FieldError(f"lines[{i}].vat_code", f"unknown tax code {line.vat_code}")
                )
            if line.debit < 0 or line.credit < 0 or (line.debit and line.credit):
                problems.append(FieldError(f"lines[{i}]", SIGN_MESSAGE))
        if problems:
            raise rejected(
                "sandbox",
                "the sandbox ledger refused the entry: "
                + "; ".join(f"{p.field}: {p.message}" for p in problems),
                tuple(problems),
            )

    def find(self, reference: str, ledger_id: str | None = None) -> PostedEntry | None:
        """The entry with this reference (in ``ledger_id``, when given)."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, reference FROM journal_entries WHERE reference = ? "
                "AND (? IS NULL OR ledger_id = ?) ORDER BY id LIMIT 1",
                (reference, ledger_id, ledger_id),
            ).fetchone()
        return None if row is None else PostedEntry(str(row["id"]), row["reference"])


class SandboxProvider:
    info = CATALOG["sandbox"]

    def __init__(self, ctx: ProviderContext) -> None:
        # [providers.sandbox] ledger_file: one ledger that several daemons post to (a shared
        # PostgreSQL store); by default the ledger lives in the daemon's own state dir.
        shared = ctx.settings.options.get("ledger_file")
        path = Path(shared) if isinstance(shared, str) and shared else ctx.state_dir / LEDGER_FILE
        self.ledger = SandboxLedger(path)

    async def verify(self) -> VerifyResult:
        tenants = await self.list_tenants()
        return VerifyResult(True, "the sandbox ledger is ready", tuple(tenants))

    async def list_tenants(self) -> list[Tenant]:
        return [Tenant("sandbox", "Sandbox ledger")]

    async def list_ledgers(self, tenant_id: str | None) -> list[Ledger]:
        rows = await asyncio.to_thread(self.ledger.ledgers)
        return [Ledger(r["id"], r["code"], r["name"]) for r in rows]

    async def list_accounts(self, tenant_id: str | None) -> list[Account]:
        rows = await asyncio.to_thread(self.ledger.accounts)
        return [Account(r["code"], r["name"]) for r in rows]

    async def list_tax_codes(self, tenant_id: str | None) -> list[TaxCode]:
        rows = await asyncio.to_thread(self.ledger.tax_codes)
        return [TaxCode(r["code"], r["name"], Decimal(r["rate"])) for r in rows]

    async def post_entry(self, entry: JournalEntry, idempotency_key: str) -> PostedEntry:
        return await asyncio.to_thread(self.ledger.post, entry, idempotency_key)

    async def find_entry(
        self, reference: str, tenant_id: str | None, ledger_id: str | None
    ) -> PostedEntry | None:
        return await asyncio.to_thread(self.ledger.find, reference, ledger_id)

    async def aclose(self) -> None:
        return None

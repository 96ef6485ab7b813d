"""SQLite rows to records: column types, JSON columns and the SELECTs that build each record."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal

from daemon.formats import loads
from daemon.model import ACTIVE_RUN_STATES
from daemon.store.records import (
    Administration,
    Authorisation,
    Configuration,
    Entry,
    Notification,
    PendingLogin,
    PmsConnection,
    Run,
    StoredDraft,
)

ACTIVE_SQL = "('" + "', '".join(sorted(ACTIVE_RUN_STATES)) + "')"

AUTHORISATIONS = (
    "SELECT a.*, (SELECT count(*) FROM configurations c WHERE c.authorisation_id = a.id) "
    "AS configuration_count, EXISTS (SELECT 1 FROM pending_logins p "
    "WHERE p.authorisation_id = a.id) AS login_pending, EXISTS (SELECT 1 FROM credentials k "
    "WHERE k.authorisation_id = a.id) AS logged_in FROM authorisations a"
)

CONFIGURATIONS = (
    "SELECT c.*, ad.number AS administration_number, ad.name AS administration_name, "
    "ad.timezone AS timezone, ad.currency AS currency, ad.access AS access, "
    "au.status AS authorisation_status, au.provider AS provider, au.name AS authorisation_name, "
    "au.updated_at AS authorisation_updated_at "
    "FROM configurations c JOIN administrations ad ON ad.id = c.administration_id "
    "JOIN authorisations au ON au.id = c.authorisation_id"
)

RUN_COLUMNS = (
    "id, configuration_id, period, kind, trigger, state, stage, done, total, error, error_kind, "
    "attempts, draft_id, entry_id, created_at, started_at, finished_at"
)
RUNS = f"SELECT {RUN_COLUMNS} FROM runs"

ENTRY_COLUMNS = (
    "id, configuration_id, administration_number, period, kind, reference, date, provider, "
    "external_id, total, line_count, posted_at, run_id, corrects"
)


def pms_connection(row: sqlite3.Row) -> PmsConnection:
    return PmsConnection(
        kind=row["kind"],
        base_url=row["base_url"],
        auth=row["auth"],
        api_key=row["api_key"] or None,
        token=row["token"] or None,
        status=row["status"],
        message=row["message"],
        updated_at=row["updated_at"],
    )


def pending_login(row: sqlite3.Row, authorisation_id: int | None) -> PendingLogin:
    return PendingLogin(authorisation_id, row["data"], float(row["expires_at"]))


def administration(row: sqlite3.Row) -> Administration:
    return Administration(
        id=row["id"],
        number=row["number"],
        name=row["name"],
        currency=row["currency"],
        timezone=row["timezone"],
        access=bool(row["access"]),
    )


def authorisation(row: sqlite3.Row) -> Authorisation:
    return Authorisation(
        id=row["id"],
        name=row["name"],
        provider=row["provider"],
        status=row["status"],
        status_message=row["status_message"],
        settings=loads(row["settings"], {}),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        configuration_count=row["configuration_count"],
        login_pending=bool(row["login_pending"]),
        logged_in=bool(row["logged_in"]),
    )


def configuration(row: sqlite3.Row) -> Configuration:
    return Configuration(
        id=row["id"],
        authorisation_id=row["authorisation_id"],
        administration_id=row["administration_id"],
        frequency=row["frequency"],
        ledger_id=row["ledger_id"],
        ledger_name=row["ledger_name"],
        tenant_id=row["tenant_id"],
        start_date=date.fromisoformat(row["start_date"]),
        end_date=date.fromisoformat(row["end_date"]) if row["end_date"] else None,
        delay_days=row["delay_days"],
        automatic=bool(row["automatic"]),
        active=bool(row["active"]),
        no_vat_code=row["no_vat_code"],
        account_map=loads(row["account_map"], {}),
        vat_map=loads(row["vat_map"], {}),
        schedule=row["schedule"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        administration_number=row["administration_number"],
        administration_name=row["administration_name"],
        timezone=row["timezone"],
        currency=row["currency"],
        access=bool(row["access"]),
        authorisation_status=row["authorisation_status"],
        authorisation_name=row["authorisation_name"],
        authorisation_updated_at=row["authorisation_updated_at"],
        provider=row["provider"],
        allow_duplicate_target=bool(row["allow_duplicate_target"]),
    )


def run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        configuration_id=row["configuration_id"],
        period=row["period"],
        kind=row["kind"],
        trigger=row["trigger"],
        state=row["state"],
        stage=row["stage"],
        done=row["done"],
        total=row["total"],
        error=row["error"],
        error_kind=row["error_kind"],
        attempts=row["attempts"],
        draft_id=row["draft_id"],
        entry_id=row["entry_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def draft(row: sqlite3.Row) -> StoredDraft:
    return StoredDraft(
        id=row["id"],
        configuration_id=row["configuration_id"],
        period=row["period"],
        data=loads(row["data"], {}),
        status=row["status"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def entry(row: sqlite3.Row, *, with_lines: bool = False) -> Entry:
    return Entry(
        id=row["id"],
        configuration_id=row["configuration_id"],
        administration_number=row["administration_number"],
        period=row["period"],
        kind=row["kind"],
        reference=row["reference"],
        date=row["date"],
        provider=row["provider"],
        external_id=row["external_id"],
        total=Decimal(row["total"]),
        line_count=row["line_count"],
        posted_at=row["posted_at"],
        run_id=row["run_id"],
        lines=loads(row["lines"], []) if with_lines else None,
        corrects=row["corrects"],
        source_lines=loads(row["source_lines"], None) if with_lines else None,
    )


def notification(row: sqlite3.Row) -> Notification:
    return Notification(
        id=row["id"],
        level=row["level"],
        title=row["title"],
        body=row["body"],
        created_at=row["created_at"],
        read=bool(row["read"]),
        link=loads(row["link"]),
    )

"""Rows to records, whatever the backend: the SELECTs that build each record, and for each record
a table of the columns whose stored type is not the field's (``Fields``).

A record's field reads the column of its name; booleans are stored as integers, dates and money
as text, JSON as text: the table names the conversion. So a field added to a record is read by
adding its column to the SELECT (and a conversion here, if its type needs one)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

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
from daemon.store.sql.seam import Row

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")
Convert = Callable[[Any], object]

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


class Fields(Generic[R]):
    """Builds a record of type ``record`` from a row: every field from the column of the same
    name, through ``convert[field]`` where the table has one. Called with ``field=value``, it
    takes that value instead of reading the column (one the SELECT leaves out)."""

    def __init__(self, record: type[R], **convert: Convert) -> None:
        names = [f.name for f in dataclasses.fields(record)]
        unknown = set(convert) - set(names)
        if unknown:
            raise TypeError(f"{record.__name__} has no fields {sorted(unknown)}")
        self._record = record
        self._plain = tuple(name for name in names if name not in convert)
        self._converted = tuple(convert.items())
        self.names = tuple(names)

    def columns(self, *leaving_out: str) -> str:
        """The column list of a SELECT that reads every field (but those left out)."""
        return ", ".join(name for name in self.names if name not in leaving_out)

    def __call__(self, row: Row, **given: object) -> R:
        values = {name: row[name] for name in self._plain if name not in given}
        for name, convert in self._converted:
            if name not in given:
                values[name] = convert(row[name])
        return self._record(**values, **given)


def _json_object(text: str | None) -> Any:
    return loads(text, {})


def _json_list(text: str | None) -> Any:
    return loads(text, [])


def _optional_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _or_none(value: Any) -> Any:
    """An empty sealed value is no value."""
    return value or None


pms_connection = Fields(PmsConnection, api_key=_or_none, token=_or_none)
pending_login = Fields(PendingLogin, expires_at=float)
administration = Fields(Administration, access=bool)
authorisation = Fields(Authorisation, settings=_json_object, login_pending=bool, logged_in=bool)
configuration = Fields(
    Configuration,
    start_date=date.fromisoformat,
    end_date=_optional_date,
    automatic=bool,
    active=bool,
    account_map=_json_object,
    vat_map=_json_object,
    access=bool,
    allow_duplicate_target=bool,
)
run = Fields(Run)
draft = Fields(StoredDraft, data=_json_object)
_entry = Fields(Entry, total=Decimal, lines=_json_list, source_lines=loads)
notification = Fields(Notification, read=bool, link=loads)

RUN_COLUMNS = run.columns()
RUNS = f"SELECT {RUN_COLUMNS} FROM runs"
ENTRY_COLUMNS = _entry.columns("lines", "source_lines")


def entry(row: Row, *, with_lines: bool = False) -> Entry:
    """``lines`` and ``source_lines`` only when asked for (a listing leaves them unread)."""
    return _entry(row) if with_lines else _entry(row, lines=None, source_lines=None)

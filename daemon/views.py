"""Records as the RPC API and the events show them (CONTRACT.md section 3 "Shapes").

One function per record; the services return these, and events carry the same shapes.
"""

from __future__ import annotations

from typing import Any

from daemon.store.records import Administration, Authorisation, Entry, Notification, Run


def administration_view(admin: Administration) -> dict[str, Any]:
    return {
        "id": admin.id,
        "number": admin.number,
        "name": admin.name,
        "currency": admin.currency,
        "timezone": admin.timezone,
        "access": admin.access,
    }


def authorisation_view(auth: Authorisation) -> dict[str, Any]:
    return {
        "id": auth.id,
        "name": auth.name,
        "provider": auth.provider,
        "status": auth.status,
        "status_message": auth.status_message,
        "created_at": auth.created_at,
        "updated_at": auth.updated_at,
        "configuration_count": auth.configuration_count,
        "tenant_id": auth.settings.get("tenant_id"),
        "tenant_name": auth.settings.get("tenant_name"),
        "login_pending": auth.login_pending,
        "logged_in": auth.logged_in,
    }


def run_view(run: Run, live: dict[str, Any] | None = None) -> dict[str, Any]:
    """``live``: the progress a running run reported since its last stored step."""
    return {
        "id": run.id,
        "configuration_id": run.configuration_id,
        "period": run.period,
        "kind": run.kind,
        "trigger": run.trigger,
        "state": run.state,
        "progress": live or {"stage": run.stage, "done": run.done, "total": run.total},
        "error": run.error,
        "error_kind": run.error_kind,
        "attempts": run.attempts,
        "draft_id": run.draft_id,
        "entry_id": run.entry_id,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def entry_view(entry: Entry) -> dict[str, Any]:
    """Without lines in the overview; with them when the entry was read with its lines."""
    shaped: dict[str, Any] = {
        "id": entry.id,
        "configuration_id": entry.configuration_id,
        "administration_number": entry.administration_number,
        "period": entry.period,
        "kind": entry.kind,
        "reference": entry.reference,
        "date": entry.date,
        "provider": entry.provider,
        "external_id": entry.external_id,
        "total": f"{entry.total:.2f}",
        "line_count": entry.line_count,
        "posted_at": entry.posted_at,
        "run_id": entry.run_id,
        "corrects": entry.corrects,
    }
    if entry.lines is not None:
        shaped["lines"] = entry.lines
    return shaped


def notification_view(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "level": note.level,
        "title": note.title,
        "body": note.body,
        "created_at": note.created_at,
        "read": note.read,
        "link": note.link,
    }

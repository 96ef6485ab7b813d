"""The re-sync confirmation's text, the same in the CLI and the TUI: the correction a forced
re-sync would post (``syncs.preview`` of a posted period), line by line with its total."""

from __future__ import annotations

from typing import Any

SHOWN_LINES = 12


def correction_lines(draft: dict[str, Any]) -> list[str]:
    """Readable lines of a correction draft; the last says the total (or that nothing changed)."""
    lines = draft.get("lines") or []
    if not lines:
        return ["Nothing changed in the PMS since it was last posted: nothing would be posted."]
    out = []
    for line in lines[:SHOWN_LINES]:
        vat = f" {line['vat_code']}" if line.get("vat_code") else ""
        amount = f"debit {line['debit']}" if line["debit"] != "0.00" else f"credit {line['credit']}"
        out.append(f"  {line['account']}{vat} {line.get('account_name', '')}: {amount}".rstrip())
    if len(lines) > SHOWN_LINES:
        out.append(f"  ... and {len(lines) - SHOWN_LINES} more line(s)")
    totals = draft.get("totals") or {}
    out.append(
        f"Correction: {len(lines)} line(s), total {totals.get('debit', '?')} "
        f"{draft.get('currency', '')}".rstrip()
    )
    out.extend(w["message"] for w in draft.get("warnings", []) if w.get("code") == "no_snapshot")
    return out

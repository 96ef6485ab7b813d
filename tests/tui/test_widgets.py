"""Widgets and helpers: money with Decimal, error sentences, QR code, the virtual table."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.app import App, ComposeResult

from bexsync_tui.client import DaemonUnavailable, RpcCallError
from bexsync_tui.widgets.errors import describe_error, field_errors
from bexsync_tui.widgets.money import balance, parse_amount, wire
from bexsync_tui.widgets.qr import qr_text
from bexsync_tui.widgets.state import RunProgress, progress_text
from bexsync_tui.widgets.tables import Fit, fitted_widths
from bexsync_tui.widgets.virtual_table import Column, VirtualTable


def test_amounts_are_decimal_with_cents() -> None:
    assert parse_amount("1234.5") == Decimal("1234.50")
    assert parse_amount("12,30") == Decimal("12.30")  # a comma typed as the separator
    assert parse_amount("") == Decimal("0.00")
    assert parse_amount("1.234") is None  # no fractions of a cent
    assert parse_amount("abc") is None and parse_amount("NaN") is None
    assert wire(Decimal("5")) == "5.00"


def test_balance_is_exact_where_floats_are_not() -> None:
    lines = [
        {"debit": "0.10", "credit": "0.00"},
        {"debit": "0.20", "credit": "0.00"},
        {"debit": "0.00", "credit": "0.30"},
    ]
    assert 0.10 + 0.20 != 0.30  # what a float balance would get wrong
    result = balance(lines)
    assert result.balanced and result.debit == Decimal("0.30")
    broken = balance([*lines, {"debit": "x", "credit": "0"}])
    assert not broken.balanced and broken.invalid == (4,)


def test_errors_read_as_sentences() -> None:
    error = RpcCallError(
        -32002,
        "ValidationFailed",
        "The configuration is not valid.",
        {"errors": [{"field": "delay_days", "message": "must be between 0 and 14 days"}]},
    )
    title, message = describe_error(error, "save the configuration")
    assert title == "Please check the values"
    assert message == (
        "Could not save the configuration: The configuration is not valid. "
        "(delay_days: must be between 0 and 14 days)"
    )
    assert field_errors(error) == {"delay_days": "must be between 0 and 14 days"}
    expired = RpcCallError(
        -32004, "ProviderError", "Xero refused the token.", {"kind": "auth_expired"}
    )
    assert "log in again" in describe_error(expired)[1]
    assert describe_error(DaemonUnavailable("gone"))[0] == "Daemon unavailable"
    assert describe_error(KeyError("id")) == ("Unexpected error", "KeyError: 'id'")


def test_qr_code_is_half_blocks_two_modules_per_line() -> None:
    text = qr_text("https://login.example/authorize?state=abc")
    lines = text.plain.splitlines()
    width = len(lines[0])
    assert all(len(line) == width for line in lines)
    assert abs(len(lines) - (width + 1) // 2) <= 1  # square: two modules per text line
    assert set(text.plain) <= set(" ▀▄█\n")
    assert lines[0].strip() == ""  # the quiet zone


def test_progress_text() -> None:
    run = RunProgress.parse(
        {"run_id": 1, "state": "fetching", "stage": "fetching", "done": 2, "total": 4}
    )
    assert progress_text(run, width=4) == "▰▰▱▱ fetching 2/4"
    assert progress_text(run, width=4, counts=False) == "▰▰▱▱ fetching"
    unknown = RunProgress.parse({"run_id": 1, "state": "queued", "total": None})
    assert progress_text(unknown) == "queued…"
    assert progress_text(None) == ""


class TableApp(App[None]):
    def __init__(self, rendered: list[int]) -> None:
        super().__init__()
        self.rendered = rendered

    def compose(self) -> ComposeResult:
        def render(row: dict[str, Any]) -> str:
            self.rendered.append(row["n"])
            return str(row["n"])

        yield VirtualTable([Column("n", "N", 8, "right", render), Column("t", "Text")])


async def test_virtual_table_formats_only_visible_rows() -> None:
    rendered: list[int] = []
    app = TableApp(rendered)
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(VirtualTable)
        table.set_rows([{"n": n, "t": f"row {n}"} for n in range(100_000)], complete=True)
        await pilot.pause()
        rendered.clear()
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == 99_999 and table.current_row == {"n": 99_999, "t": "row 99999"}
        assert 0 < len(rendered) <= 3 * 12  # a screenful (or a few), not 100,000
        assert max(rendered) == 99_999
        rendered.clear()
        await pilot.press("pageup", "up", "home")
        await pilot.pause()
        assert table.cursor == 0 and len(rendered) <= 4 * 3 * 12


def test_fitted_columns_shrink_names_first_and_keep_amounts() -> None:
    columns = [Fit("a", "Account", 8), Fit("n", "Name", 6, share=2), Fit("m", "Debit", 10)]
    assert fitted_widths(columns, 20, 1) == [8, 6, 10]  # too narrow: nothing below least
    assert fitted_widths(columns, 40, 1) == [8, 16, 10]  # the room goes to the name
    shared = [Fit("n", "Name", 6, share=2), Fit("d", "Description", 6, share=3)]
    assert fitted_widths(shared, 4 + 12 + 10, 1) == [10, 12]  # 2:3 of the 10 spare cells

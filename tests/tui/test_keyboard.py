"""Keyboard first: ids on every binding (remappable), help, palette, quit, 80x24, 16 colours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable

import bexsync_tui.screens as screens_package
from bexsync_tui.app import BexsyncApp, load_keymap
from bexsync_tui.screens.entries import EntriesScreen
from bexsync_tui.screens.help import HelpScreen
from bexsync_tui.screens.preview import PreviewScreen
from bexsync_tui.widgets import tables, virtual_table
from tests.tui.helpers import screen_text, wait_text, wait_toast, wait_until
from tests.tui.test_configurations import open_configuration


def all_bindings() -> list[tuple[str, Binding]]:
    import importlib
    import pkgutil

    classes: list[type] = [BexsyncApp]
    for info in pkgutil.iter_modules(screens_package.__path__):
        module = importlib.import_module(f"bexsync_tui.screens.{info.name}")
        classes += [v for v in vars(module).values() if isinstance(v, type)]
    classes += [v for m in (tables, virtual_table) for v in vars(m).values() if isinstance(v, type)]
    found = []
    for cls in classes:
        if cls.__module__.startswith("bexsync_tui"):
            for binding in cls.__dict__.get("BINDINGS", []):
                found.append((cls.__name__, binding))
    return found


def test_every_shown_binding_has_an_id_and_a_description() -> None:
    bindings = all_bindings()
    assert len(bindings) > 40
    for owner, binding in bindings:
        if binding.show:
            assert binding.id, f"{owner}: {binding.key} -> {binding.action} has no id"
            assert binding.description, f"{owner}: {binding.id} has no description"


async def test_keys_can_be_remapped_by_binding_id(run_app: Any) -> None:
    async with run_app(keymap={"nav.entries": "f2"}) as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("2")
        await pilot.pause(0.1)
        assert not isinstance(pilot.app.screen, EntriesScreen)
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))


def test_keymap_file(tmp_path: Path) -> None:
    path = tmp_path / "tui.toml"
    path.write_text('[keymap]\n"nav.entries" = "f2"\n"preview.post" = "ctrl+enter"\n')
    assert load_keymap(path) == {"nav.entries": "f2", "preview.post": "ctrl+enter"}
    path.write_text("[keymap\n")
    assert load_keymap(path) == {}
    assert load_keymap(tmp_path / "missing.toml") == {}


async def test_help_lists_the_keys_with_their_ids(run_app: Any, tmp_path: Path) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await wait_text(pilot, "Help: keys", "authorisations.new", "nav.entries")
        intro = str(pilot.app.screen.query_one("#help-intro").render())
        assert str(tmp_path / "tui.toml") in intro  # where the keymap goes
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(pilot.app.screen, HelpScreen))


async def test_command_palette_reaches_sections_and_actions(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("ctrl+p")
        await pilot.press(*"go to entries")
        await wait_text(pilot, "Open the Entries overview section")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, EntriesScreen))


async def test_ctrl_q_quits(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not pilot.app.is_running, what="the app to exit")


async def test_main_screens_fit_80x24_with_help_and_quit_in_the_footer(run_app: Any) -> None:
    async with run_app(size=(80, 24)) as pilot:

        def footer() -> str:
            return screen_text(pilot.app).splitlines()[-1]

        async def footer_shown() -> str:
            await wait_until(pilot, lambda: "? Help" in footer(), what="the footer")
            return footer()

        await wait_text(pilot, "Demo sandbox")
        seen = [await footer_shown()]
        await open_configuration(pilot, "102")
        seen.append(await footer_shown())
        await pilot.press("p")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, PreviewScreen))
        await wait_text(pilot, "balanced")
        seen.append(await footer_shown())
        for key, heading in zip(
            "234", ("Entries overview", "Notifications ·", "Daemon status"), strict=True
        ):
            await pilot.press(key)
            await wait_text(pilot, heading)
            seen.append(await footer_shown())
        for line in seen:
            assert "? Help" in line and "^q Quit" in line, line


async def test_sixteen_colour_terminals_get_the_ansi_theme(run_app: Any) -> None:
    async with run_app(sixteen_colours=True) as pilot:
        text = await wait_text(pilot, "Demo sandbox")
        assert pilot.app.theme == "ansi-dark"
        assert "active" in text  # states are words, not just colours


async def test_command_palette_opens_a_configuration_by_number(run_app: Any) -> None:
    from bexsync_tui.screens.configuration_view import ConfigurationViewScreen

    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await wait_until(pilot, lambda: len(pilot.app.configurations) == 3)
        await pilot.press("ctrl+p", *"configuration 103")
        await wait_text(pilot, "Holiday Park Limburgse Heuvels")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfigurationViewScreen))
        await wait_text(pilot, "Administration 103")
        await pilot.press("escape")  # the way back is the normal one
        await wait_text(pilot, "› Configurations")


async def test_remapped_section_keys_show_in_the_top_bar(run_app: Any) -> None:
    async with run_app(keymap={"nav.entries": "f2", "nav.status": "f4,4"}) as pilot:
        text = await wait_text(pilot, "Demo sandbox")
        top = text.splitlines()[0]
        assert "f2 Entries" in top and "f4 Daemon" in top and " 2 Entries" not in top
        await pilot.press("f2")
        await wait_text(pilot, "Entries overview")


async def test_an_unknown_key_id_in_the_keymap_warns_at_start(run_app: Any) -> None:
    async with run_app(keymap={"nav.entrys": "f2", "nav.status": "f4"}) as pilot:
        toast = await wait_toast(pilot, "nav.entrys")
        assert "nav.status" not in toast and "press ? to see the ids" in toast


async def test_home_and_end_jump_in_the_notifications(run_app: Any) -> None:
    async with run_app() as pilot:
        await wait_text(pilot, "Demo sandbox")
        await pilot.press("3")
        await wait_text(pilot, "Notifications ·", "Posted")
        table = pilot.app.screen.query_one("#notifications-table", DataTable)
        await wait_until(pilot, lambda: table.row_count > 3, what="the notifications")
        await pilot.press("end")
        await wait_until(pilot, lambda: table.cursor_row == table.row_count - 1, what="the end")
        await pilot.press("home")
        await wait_until(pilot, lambda: table.cursor_row == 0, what="the first row")

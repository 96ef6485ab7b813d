"""The top line of every screen: sections with their keys, unread count, connection state."""

from __future__ import annotations

from typing import Any

from textual.content import Content
from textual.widget import Widget

SECTIONS = (
    ("authorisations", "1", "Authorisations"),
    ("entries", "2", "Entries"),
    ("notifications", "3", "Notifications"),
    ("status", "4", "Daemon"),
    ("administrations", "5", "Access"),
)

CONNECTION_LABELS = {
    "connected": ("● connected", "$success"),
    "connecting": ("○ connecting", "$warning"),
    "reconnecting": ("○ reconnecting", "$warning"),
    "down": ("✕ daemon down", "$error"),
}


class TopBar(Widget):
    """Keeps the unread count always visible and shows where the user is."""

    DEFAULT_CSS = """
    TopBar { height: 1; background: $panel; color: $foreground; }
    """

    def on_mount(self) -> None:
        app: Any = self.app
        self.watch(app, "unread_count", self._changed, init=False)
        self.watch(app, "connection_state", self._changed, init=False)
        app.mode_change_signal.subscribe(self, self._changed)
        self.refresh()  # a count or state that changed before the watches were set

    def _changed(self, *_: object) -> None:
        self.refresh()

    def render(self) -> Content:
        app: Any = self.app
        mode = app.current_mode
        unread = int(getattr(app, "unread_count", 0))
        parts: list[Content] = []
        for name, key, label in SECTIONS:
            text = f"{app.section_key(name, key)} {label}"
            markup = f"[@click=app.section('{name}')]$text[/]"
            item = Content.from_markup(markup, text=text)
            if name == mode:
                item = item.stylize("reverse")
            if name == "notifications" and unread:
                item += Content.from_markup(" [b $warning]($count)[/]", count=str(unread))
            parts.append(item)
        left = Content(" ").join(parts)
        label, colour = CONNECTION_LABELS.get(app.connection_state, ("?", "$warning"))
        status = Content.from_markup(f"[{colour}]$label[/] ", label=label)
        gap = max(1, self.size.width - left.cell_length - status.cell_length)
        return left + Content(" " * gap) + status

"""A QR code drawn with half blocks, so a phone can open a login URL shown over SSH."""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_L
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

# Dark modules on a light ground whatever the terminal theme: scanners expect that polarity.
QR_STYLE = Style(color="black", bgcolor="white")
CHARS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_text(data: str, border: int = 2) -> Text:
    """Two matrix rows per text line: upper half block = top module, lower = bottom module."""
    code = qrcode.QRCode(border=border, error_correction=ERROR_CORRECT_L)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    lines = [
        "".join(CHARS[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(matrix[0::2], matrix[1::2], strict=True)
    ]
    return Text("\n".join(lines), style=QR_STYLE, no_wrap=True, overflow="crop")


class QrCode(Static):
    """Static showing ``data`` as a QR code; width is the module count plus the border."""

    DEFAULT_CSS = """
    QrCode { width: auto; height: auto; }
    """

    def __init__(self, data: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(qr_text(data), id=id, classes=classes)
        self.data = data

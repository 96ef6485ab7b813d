"""docs/API.md is what ``rpc.discover`` says today (``make api-doc`` regenerates it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_api_document_is_current() -> None:
    checked = subprocess.run(
        [sys.executable, "tools/api_doc.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


def test_the_api_document_lists_every_method_the_daemon_serves() -> None:
    sys.path.insert(0, str(ROOT / "tools"))
    import api_doc

    text = (ROOT / "docs" / "API.md").read_text()
    for method in api_doc.discover()["methods"]:
        assert f"### {method['name']}\n" in text

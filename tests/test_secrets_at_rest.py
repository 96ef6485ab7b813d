"""Credentials at rest: encrypted with a configured key, never in RPC results or the database."""

from __future__ import annotations

import sqlite3

from providers.tokens import SecretBox
from tests.support.daemon import demo_daemon


async def test_credentials_are_encrypted_with_the_key_file(tmp_path):
    key = tmp_path / "bexsync.key"
    key.write_bytes(SecretBox.generate_key())
    async with demo_daemon(tmp_path, config={"daemon": {"encryption_key_file": str(key)}}) as (
        app,
        client,
    ):
        sealed = app.vault.seal({"api_key": "sk-planted-secret-123"})
        assert "sk-planted-secret-123" not in sealed and sealed.startswith("sealed:")
        assert app.vault.unseal(sealed) == {"api_key": "sk-planted-secret-123"}
        # The PMS key passed through pms.connect is not echoed back.
        pms = await client.call("pms.get")
        assert "api_key" not in pms
    db = sqlite3.connect(tmp_path / "state" / "bexsync.sqlite3")
    dump = "\n".join(db.iterdump())
    assert "sk-planted-secret-123" not in dump
    stored = db.execute("SELECT api_key FROM pms_connection").fetchone()[0]
    assert stored.startswith("sealed:") and "demo-" not in stored

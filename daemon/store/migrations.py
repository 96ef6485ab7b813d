"""Schema versions, applied in order; ``PRAGMA user_version`` records the last one applied.

Never edit a released migration: add a new one. Each runs in one transaction, so an upgrade
either completes or leaves the old version untouched.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the first release.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE pms_connection (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kind TEXT NOT NULL,
        base_url TEXT NOT NULL,
        api_key TEXT,
        status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL
    );
    CREATE TABLE administrations (
        id TEXT PRIMARY KEY,
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        currency TEXT NOT NULL,
        timezone TEXT NOT NULL,
        access INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE authorisations (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        provider TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('inactive', 'active', 'error')),
        status_message TEXT NOT NULL DEFAULT '',
        settings TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE credentials (
        authorisation_id INTEGER PRIMARY KEY REFERENCES authorisations(id) ON DELETE CASCADE,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE configurations (
        id INTEGER PRIMARY KEY,
        authorisation_id INTEGER NOT NULL REFERENCES authorisations(id) ON DELETE RESTRICT,
        administration_id TEXT NOT NULL REFERENCES administrations(id),
        frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'monthly')),
        ledger_id TEXT NOT NULL,
        ledger_name TEXT NOT NULL DEFAULT '',
        tenant_id TEXT,
        start_date TEXT NOT NULL,
        end_date TEXT,
        delay_days INTEGER NOT NULL CHECK (delay_days BETWEEN 0 AND 14),
        automatic INTEGER NOT NULL,
        active INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (authorisation_id, administration_id)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        configuration_id INTEGER NOT NULL REFERENCES configurations(id) ON DELETE CASCADE,
        period TEXT NOT NULL,
        trigger TEXT NOT NULL,
        state TEXT NOT NULL,
        stage TEXT NOT NULL DEFAULT '',
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        error TEXT,
        idempotency_key TEXT,
        payload_hash TEXT,
        payload TEXT,
        draft_id INTEGER,
        entry_id INTEGER,
        started_at TEXT,
        finished_at TEXT,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX runs_one_active ON runs(configuration_id)
        WHERE state IN ('queued', 'fetching', 'building', 'posting');
    CREATE INDEX runs_by_configuration ON runs(configuration_id, id);
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY,
        configuration_id INTEGER NOT NULL REFERENCES configurations(id) ON DELETE CASCADE,
        period TEXT NOT NULL,
        data TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE entries (
        id INTEGER PRIMARY KEY,
        configuration_id INTEGER REFERENCES configurations(id) ON DELETE SET NULL,
        administration_number TEXT NOT NULL,
        period TEXT NOT NULL,
        reference TEXT NOT NULL,
        date TEXT NOT NULL,
        provider TEXT NOT NULL,
        external_id TEXT NOT NULL,
        total TEXT NOT NULL,
        line_count INTEGER NOT NULL,
        lines TEXT NOT NULL,
        posted_at TEXT NOT NULL,
        run_id INTEGER
    );
    CREATE INDEX entries_by_configuration ON entries(configuration_id, id);
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        level TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        read INTEGER NOT NULL DEFAULT 0,
        link TEXT
    );
    """,
    # 2: mapping overrides, schedules, corrections and per-period status.
    """
    ALTER TABLE configurations ADD COLUMN no_vat_code TEXT;
    ALTER TABLE configurations ADD COLUMN account_map TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE configurations ADD COLUMN vat_map TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE configurations ADD COLUMN schedule TEXT;
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'entry';
    ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN error_kind TEXT;
    ALTER TABLE entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'entry';
    CREATE UNIQUE INDEX entries_one_per_period ON entries(configuration_id, period)
        WHERE kind = 'entry' AND configuration_id IS NOT NULL;
    CREATE TABLE period_status (
        configuration_id INTEGER NOT NULL REFERENCES configurations(id) ON DELETE CASCADE,
        period TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('posted', 'empty')),
        entry_id INTEGER,
        source_hash TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (configuration_id, period)
    );
    INSERT INTO period_status (configuration_id, period, status, entry_id, updated_at)
        SELECT configuration_id, period, 'posted', id, posted_at FROM entries
        WHERE configuration_id IS NOT NULL;
    CREATE TABLE pending_logins (
        authorisation_id INTEGER PRIMARY KEY REFERENCES authorisations(id) ON DELETE CASCADE,
        data TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 3: the PMS connection may log in with OAuth2 (a sealed token set) instead of an API key.
    """
    ALTER TABLE pms_connection ADD COLUMN auth TEXT NOT NULL DEFAULT 'api_key';
    ALTER TABLE pms_connection ADD COLUMN token TEXT;
    CREATE TABLE pms_pending_login (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        data TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # 4: runs a stop cancelled before this release carry the kind that has the scheduler run
    # their periods again (before, it only retried rate limits and outages, and they stalled).
    """
    UPDATE runs SET error_kind = 'interrupted'
        WHERE state = 'cancelled' AND error_kind IS NULL AND error LIKE 'interrupted:%';
    """,
    # 5: each posted entry keeps the PMS lines it was built from (before hand edits), so a
    # re-sync posts only what changed in the PMS; a correction links to the entry it corrects.
    """
    ALTER TABLE entries ADD COLUMN source_lines TEXT;
    ALTER TABLE entries ADD COLUMN corrects INTEGER;
    """,
    # 6: a configuration may knowingly post where another one posts (one ledger, one feed).
    """
    ALTER TABLE configurations ADD COLUMN allow_duplicate_target INTEGER NOT NULL DEFAULT 0;
    """,
]

LATEST_VERSION = len(MIGRATIONS)

"""A throwaway PostgreSQL server for the tests and the scale check: Debian's initdb and pg_ctl
in a temporary directory, reachable over a Unix socket only (no TCP port at all).

PostgreSQL refuses to run as root; run as root (as CI does), the server runs as the
``postgres`` system user that Debian's package creates, and its directory belongs to that user.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.sql

SUPERUSER = "bexsync"
PASSWORD_ROLE = "bexsync_pw"
"""The one role that must log in with its password (scram-sha-256); every other is trusted."""


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (``/usr/lib/postgresql/N/bin``)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, root: Path, bin_dir: Path, run_as: str | None) -> None:
        self.root = root
        self.data = root / "data"
        self.socket_dir = root
        self.bin_dir = bin_dir
        self.run_as = run_as
        self._names = itertools.count(1)

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["setpriv", f"--reuid={self.run_as}", f"--regid={self.run_as}", "--init-groups",
                "--", *args]  # fmt: skip

    def start(self) -> None:
        subprocess.run(
            self._cmd(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                      "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
            check=True, capture_output=True,
        )  # fmt: skip
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"local all {PASSWORD_ROLE} scram-sha-256\n" + hba.read_text())
        options = (
            f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB"
        )
        subprocess.run(
            self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l",
                      str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start"),
            check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop"),
            capture_output=True,
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        """A libpq URL over the Unix socket (no password: trust, in a directory of our own)."""
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}"

    def create_password_database(self, password: str) -> str:
        """A new database owned by ``PASSWORD_ROLE``, which logs in with ``password``; its URL
        (without the password)."""
        name = f"pw_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                f"'{PASSWORD_ROLE}') THEN CREATE ROLE {PASSWORD_ROLE} LOGIN; END IF; END $$"
            )
            conn.execute(
                psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    psycopg.sql.Identifier(PASSWORD_ROLE), psycopg.sql.Literal(password)
                )
            )
            conn.execute(f'CREATE DATABASE "{name}" OWNER {PASSWORD_ROLE}')
        return f"postgresql://{PASSWORD_ROLE}@/{name}?host={self.socket_dir}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server, stopped and removed afterwards. RuntimeError if none is installed."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    run_as = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="bexsync-pg-"))
    if run_as is not None:
        user = pwd.getpwnam(run_as)
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PostgresServer(root, bin_dir, run_as)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

"""``bexsyncd``: the daemon's command line (CONTRACT.md section 1). systemd runs exactly this."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from daemon.app import AlreadyRunning, DaemonApp
from daemon.config import (
    ConfigError,
    default_config_path,
    default_socket_path,
    default_state_dir,
    load_config,
)
from daemon.demo_providers import DemoProvidersError
from daemon.logsetup import setup_logging
from daemon.rpc import SocketInUse, UnsafeSocketPath
from daemon.rpc.throttled_log import throttle_loop_errors
from daemon.store.db import DatabaseDamaged, StateDirError
from providers.tokens import SecretBoxError

log = logging.getLogger("bexsync.daemon")

EXIT_DATABASE_DAMAGED = 4
"""The database is empty, truncated or corrupt: restore a backup (README). Restarting cannot
help, so the systemd units list it in RestartPreventExitStatus=."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bexsyncd",
        description="The bexsync daemon: keeps the state, runs scheduled syncs from the BEX PMS "
        "to accounting providers, and serves the JSON-RPC API the bexsync TUI and CLI use.",
        epilog="Environment: BEXSYNC_STATE_DIR, BEXSYNC_SOCKET, BEXSYNC_CONFIG override the "
        "defaults; under systemd, STATE_DIRECTORY, RUNTIME_DIRECTORY and CREDENTIALS_DIRECTORY "
        "are used. Exit codes: 0 stopped, 2 bad configuration or cannot start, 3 already "
        "running on this state dir or socket, 4 the database is empty, truncated or corrupt "
        "(restore a backup; README).",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="default: $BEXSYNC_STATE_DIR, $STATE_DIRECTORY or the user data dir",
    )
    parser.add_argument(
        "--socket",
        type=Path,
        help="default: $BEXSYNC_SOCKET, $RUNTIME_DIRECTORY/bexsyncd.sock or the user runtime dir",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="TOML file; default: $BEXSYNC_CONFIG or bexsyncd.toml in the user config dir",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="seed the embedded demo (simulated PMS, sandbox ledger) into an empty state dir",
    )
    parser.add_argument(
        "--demo-providers",
        metavar="IDS",
        help="with --demo: also start simulators of these accounting providers "
        "('all' or a comma-separated list) and seed an authorisation for each",
    )
    parser.add_argument(
        "--metrics-file", type=Path, help="write Prometheus metrics here after every run"
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"],
    )
    return parser


async def run_daemon(args: argparse.Namespace) -> int:
    state_dir = args.state_dir or default_state_dir()
    socket_path = args.socket or default_socket_path()
    config_path = args.config or default_config_path()
    try:
        config = load_config(config_path, required=args.config is not None)
    except ConfigError as exc:
        log.error("config: %s", exc)
        return 2
    if args.metrics_file is not None:
        from dataclasses import replace

        config = replace(config, metrics_file=args.metrics_file)
    try:
        app = DaemonApp(state_dir=state_dir, socket_path=socket_path, config=config)
    except SecretBoxError as exc:
        log.error("cannot start: the key that seals stored secrets: %s", exc)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    throttle_loop_errors(loop)  # e.g. accept() out of file descriptors: once a minute, not 5000/s
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.open()
        if args.demo:
            from daemon.demo import seed_demo

            await seed_demo(app, providers=args.demo_providers)
        await app.start()
    except DemoProvidersError as exc:
        log.error("%s", exc)
        return 2
    except AlreadyRunning as exc:
        log.error("%s", exc)
        return 3
    except DatabaseDamaged as exc:
        # One line, no traceback; the units' RestartPreventExitStatus= stops a restart loop.
        log.error("cannot start: %s", exc)
        with contextlib.suppress(Exception):
            await app.store.close()
        return EXIT_DATABASE_DAMAGED
    except (StateDirError, ConfigError, OSError, SocketInUse, UnsafeSocketPath) as exc:
        # Close the database too: its worker threads would otherwise keep the process alive.
        # SocketInUse exits 3 like AlreadyRunning: another daemon already serves that socket.
        log.error("cannot start: %s", exc)
        with contextlib.suppress(Exception):
            await app.store.close()
        return 3 if isinstance(exc, SocketInUse) else 2
    await stop.wait()
    await app.stop()
    log.info("bexsyncd stopped")
    return 0


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level.upper())
    if args.demo_providers and not args.demo:
        print("bexsyncd: --demo-providers goes with --demo", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(run_daemon(args)))


if __name__ == "__main__":
    main()

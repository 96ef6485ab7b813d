"""``bexsync``: the TUI, the demo, and a small scripting CLI (README "Scripting";
the API itself: docs/API.md).

Exit codes: 0 success; 1 a JSON-RPC error (call), something needs attention (status) or a sync
that did not post (sync --wait); 2 no daemon answers; 64 the command line is wrong (EX_USAGE:
bad arguments, params that are not a JSON object or array), so a script can tell a typo from an
outage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any, NoReturn

from bexsync_tui.client import Client, DaemonUnavailable, RpcCallError, default_socket_path
from bexsync_tui.correction_text import correction_lines

EXIT_OK, EXIT_ERROR, EXIT_NO_DAEMON, EXIT_USAGE = 0, 1, 2, 64


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong command line exits EXIT_USAGE, not 2 ("no daemon")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bexsync",
        description="bexsync: sync Booking Experts PMS journals to accounting software. "
        "Without a command, opens the terminal UI on the running daemon.",
    )
    parser.add_argument(
        "--socket",
        help="the daemon's socket (default: $BEXSYNC_SOCKET, $RUNTIME_DIRECTORY/bexsyncd.sock, "
        "or bexsyncd.sock in the user runtime dir)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("tui", help="open the terminal UI (the default)")
    demo = sub.add_parser(
        "demo", help="start a demo daemon in a temporary state dir and open the UI on it"
    )
    demo.add_argument(
        "--providers", metavar="IDS", help="also simulate these providers ('all' or a,b,c)"
    )
    demo.add_argument("--keep", action="store_true", help="keep the temporary state dir")
    call = sub.add_parser(
        "call",
        help="one JSON-RPC call; the result as JSON on stdout",
        description="Call one method. Example: bexsync call configurations.get '{\"id\": 1}'. "
        "List the methods with: bexsync call rpc.discover",
    )
    call.add_argument("method")
    call.add_argument("params", nargs="?", help="params as a JSON object or array")
    call.add_argument(
        "--params-file",
        metavar="FILE",
        help="read the params from FILE ('-': standard input) instead: secrets such as an API "
        "key stay out of the command line, which other local users can read",
    )
    status = sub.add_parser(
        "status",
        help="daemon health; exit 0 healthy, 1 needs attention, 2 no daemon",
    )
    status.add_argument("--json", action="store_true", help="print daemon.status as JSON")
    sync = sub.add_parser("sync", help="trigger a manual sync of a configuration")
    sync.add_argument("configuration_id", type=int)
    sync.add_argument("--period", help="YYYY-MM-DD (daily) or YYYY-MM (monthly)")
    sync.add_argument("--draft", type=int, help="post this corrected draft")
    sync.add_argument(
        "--force",
        action="store_true",
        help="re-sync a posted period: shows the correcting entry (what changed in the PMS "
        "since it was posted) and asks before posting it",
    )
    sync.add_argument("--yes", action="store_true", help="with --force: post without asking")
    sync.add_argument(
        "--wait", action="store_true", help="show progress; exit 0 only when the entry is posted"
    )
    for p in (call, status, sync, demo):
        p.add_argument("--socket", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _socket(args: argparse.Namespace) -> str:
    return args.socket or default_socket_path()


def _no_daemon(socket_path: str, exc: DaemonUnavailable) -> int:
    reason = f": {exc.reason}" if exc.reason else f" ({exc})"
    print(
        f"bexsync: no daemon answers on {socket_path}{reason}. Start it with `bexsyncd` "
        "(or `systemctl start bexsyncd`), or try `bexsync demo`.",
        file=sys.stderr,
    )
    return EXIT_NO_DAEMON


async def _with_client(socket_path: str, work: Any) -> int:
    client = Client()
    try:
        await client.connect(socket_path)
    except DaemonUnavailable as exc:
        return _no_daemon(socket_path, exc)
    try:
        return int(await work(client))
    except DaemonUnavailable as exc:
        return _no_daemon(socket_path, exc)
    finally:
        await client.aclose()


def _params_text(args: argparse.Namespace) -> str | None:
    """The params' JSON text: the argument, or the file (``-``: stdin); OSError if unreadable."""
    if args.params_file is None:
        return args.params  # type: ignore[no-any-return]
    if args.params_file == "-":
        return sys.stdin.read()
    with open(args.params_file, encoding="utf-8") as fh:
        return fh.read()


def cmd_call(args: argparse.Namespace) -> int:
    params = None
    if args.params is not None and args.params_file is not None:
        print("bexsync call: give PARAMS_JSON or --params-file, not both", file=sys.stderr)
        return EXIT_NO_DAEMON
    try:
        text = _params_text(args)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"bexsync call: --params-file {args.params_file}: {exc}", file=sys.stderr)
        return EXIT_NO_DAEMON
    if text is not None:
        try:
            params = json.loads(text)
        except json.JSONDecodeError as exc:
            print(f"bexsync call: PARAMS is not valid JSON: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not isinstance(params, dict | list):
            print("bexsync call: PARAMS must be a JSON object or array", file=sys.stderr)
            return EXIT_USAGE

    async def work(client: Client) -> int:
        try:
            result = await client.call(args.method, params)
        except RpcCallError as exc:
            print(json.dumps(exc.to_json(), indent=2), file=sys.stderr)
            return EXIT_ERROR
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return EXIT_OK

    return asyncio.run(_with_client(_socket(args), work))


def _print_status(status: dict[str, Any]) -> None:
    counts = status.get("counts", {})
    pms = status.get("pms", {})
    print(f"bexsyncd {status.get('version')} up {status.get('uptime_s')}s")
    print(f"  state dir {status.get('state_dir')}  socket {status.get('socket')}")
    print(f"  PMS: {pms.get('status')} {pms.get('base_url') or ''}")
    print(
        f"  {counts.get('authorisations', 0)} authorisations, "
        f"{counts.get('configurations', 0)} configurations, {counts.get('entries', 0)} entries, "
        f"{counts.get('running', 0)} running, "
        f"{counts.get('unread_notifications', 0)} unread notifications"
    )
    if status.get("store"):
        print(f"  store {status['store']}")
    daemons = status.get("daemons") or []
    if len(daemons) > 1:  # several daemons share a PostgreSQL store
        print("  daemons:")
        for d in daemons:
            leases = ", ".join(str(lease["configuration_id"]) for lease in d.get("leases", []))
            print(
                f"    {d['id'][:8]} {d['host']} pid {d['pid']} "
                f"{'alive' if d['alive'] else 'SILENT'} heartbeat {d['heartbeat_age_s']:.1f}s ago"
                + (" (this one)" if d.get("this") else "")
                + (f" leases: {leases}" if leases else "")
            )
    runs = status.get("next_runs") or []
    if runs:
        print("  next due:")
        for r in runs[:10]:
            mode = "automatic" if r.get("automatic") else "manual"
            print(
                f"    configuration {r['configuration_id']} ({r.get('administration_number')}) "
                f"{r['period']} at {r['due_at']} [{mode}]"
            )
    attention = status.get("attention") or []
    if attention:
        print("  needs attention:")
        for item in attention:
            print(f"    - {item['message']}")
    else:
        print("  healthy: nothing needs attention")


def cmd_status(args: argparse.Namespace) -> int:
    async def work(client: Client) -> int:
        status = await client.call("daemon.status")
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            _print_status(status)
        return EXIT_ERROR if status.get("attention") else EXIT_OK

    return asyncio.run(_with_client(_socket(args), work))


def _progress_line(data: dict[str, Any], tty: bool) -> str:
    done, total = data.get("done") or 0, data.get("total")
    stage = data.get("stage") or data.get("state")
    if tty and total:
        width = 30
        filled = int(width * min(done, total) / total)
        return f"\r[{'#' * filled}{'.' * (width - filled)}] {stage} {done}/{total}"
    if tty:
        return f"\r{stage}: {done} transactions"
    return f"{stage}: {done}" + (f"/{total}" if total else "")


async def _confirm_correction(
    client: Client, params: dict[str, Any], yes: bool
) -> dict[str, Any] | None:
    """Show the correction a forced re-sync would post and ask; the params that post exactly
    it, or None (declined, or nothing to ask about without a terminal)."""
    preview_params = {k: params[k] for k in ("configuration_id", "period") if k in params}
    try:
        draft = await client.call("syncs.preview", preview_params)
    except RpcCallError as exc:
        print(f"bexsync sync: {exc.message}", file=sys.stderr)
        return None
    if draft.get("kind") != "correction":
        return {}  # not posted yet: an ordinary sync
    print(f"Period {draft['period']} is already posted.", file=sys.stderr)
    for line in correction_lines(draft):
        print(line, file=sys.stderr)
    if not yes:
        if not sys.stdin.isatty():
            print("bexsync sync: add --yes to post this correction", file=sys.stderr)
            return None
        answer = input("Post this correction? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("bexsync sync: nothing posted", file=sys.stderr)
            return None
    return {"draft_id": draft["id"], "period": draft["period"]}


def cmd_sync(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"configuration_id": args.configuration_id}
    if args.period:
        params["period"] = args.period
    if args.draft is not None:
        params["draft_id"] = args.draft
    if args.force:
        params["force"] = True

    async def work(client: Client) -> int:
        # The stream is taken before the run starts: a run with nothing to post can finish
        # before syncs.run answers, and its sync.finished must not be missed (--wait would
        # then wait for some later event).
        stream = client.events()
        if args.wait:
            await client.subscribe(["sync.progress", "sync.finished"])
        if args.force and args.draft is None:
            confirmed = await _confirm_correction(client, params, args.yes)
            if confirmed is None:
                return EXIT_ERROR
            params.update(confirmed)
        try:
            started = await client.call("syncs.run", params)
        except RpcCallError as exc:
            print(f"bexsync sync: {exc.message}", file=sys.stderr)
            for err in (exc.data or {}).get("errors", []):
                print(f"  {err.get('field')}: {err.get('message')}", file=sys.stderr)
            return EXIT_ERROR
        run_id = started["run_id"]
        print(f"run {run_id} started", file=sys.stderr)
        if not args.wait:
            print(json.dumps(started))
            return EXIT_OK
        tty = sys.stderr.isatty()
        last_stage = None
        async for topic, data in stream:
            if data.get("run_id") != run_id:
                continue
            if topic == "sync.progress":
                line = _progress_line(data, tty)
                if tty:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                elif data.get("stage") != last_stage:
                    print(line, file=sys.stderr)
                last_stage = data.get("stage")
            elif topic == "sync.finished":
                break
        if tty:
            sys.stderr.write("\n")
        run = await client.call("syncs.get", {"run_id": run_id})
        print(json.dumps(run, indent=2))
        if run["state"] == "posted":
            print(
                f"posted: {run['period']}"
                + (f" as entry {run['entry_id']}" if run.get("entry_id") else " (nothing to post)"),
                file=sys.stderr,
            )
            return EXIT_OK
        print(f"run {run_id} {run['state']}: {run.get('error') or ''}", file=sys.stderr)
        return EXIT_ERROR

    return asyncio.run(_with_client(_socket(args), work))


def cmd_tui(args: argparse.Namespace) -> int:
    socket_path = _socket(args)

    async def probe(client: Client) -> int:
        await client.call("daemon.hello", {"client": "bexsync"})
        return EXIT_OK

    # No daemon at start -> one clear line, exit 2. Once running, the TUI itself
    # shows a "daemon down" screen and reconnects when the daemon comes back.
    if asyncio.run(_with_client(socket_path, probe)) != EXIT_OK:
        return EXIT_NO_DAEMON
    from bexsync_tui.app import run_tui

    return int(run_tui(socket_path) or 0)


def cmd_demo(args: argparse.Namespace) -> int:
    from bexsync_tui.demo import run_demo

    return run_demo(providers=args.providers, keep=args.keep)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "socket", None) is None:
        args.socket = os.environ.get("BEXSYNC_SOCKET")
    handlers = {
        None: cmd_tui,
        "tui": cmd_tui,
        "demo": cmd_demo,
        "call": cmd_call,
        "status": cmd_status,
        "sync": cmd_sync,
    }
    try:
        code = handlers[args.command](args)
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()

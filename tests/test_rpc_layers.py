"""The RPC package's modules import each other one way: no cycle, even one hidden behind
``TYPE_CHECKING``, and nothing above the RPC layer (api, services, engine, store) is imported."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import daemon.rpc

RPC = Path(daemon.rpc.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, as dotted absolute names."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "daemon.rpc" if node.level == 1 else "daemon"
                module = f"{base}.{node.module}" if node.module else base
                found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
            elif node.module:
                found.add(node.module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"daemon.rpc.{p.stem}": p for p in RPC.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def test_the_rpc_modules_form_no_import_cycle() -> None:
    graph = _graph()
    assert {"daemon.rpc.transport", "daemon.rpc.dispatch", "daemon.rpc.registry"} <= set(graph)
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle in daemon/rpc: {exc.args[1]}") from None
    assert order.index("daemon.rpc.transport") < order.index("daemon.rpc.dispatch")


def test_the_transport_knows_nothing_of_json_rpc_dispatch() -> None:
    graph = _graph()
    below_transport = {"daemon.rpc.dispatch", "daemon.rpc.registry", "daemon.rpc.server"}
    assert not graph["daemon.rpc.transport"] & below_transport
    assert not graph["daemon.rpc.registry"] & {"daemon.rpc.dispatch", "daemon.rpc.server"}
    assert not graph["daemon.rpc.openrpc"] & {"daemon.rpc.dispatch", "daemon.rpc.server"}


def test_rpc_imports_nothing_from_the_layers_above_it() -> None:
    for path in RPC.glob("*.py"):
        for module in _imports(path):
            assert not module.startswith(
                ("daemon.api", "daemon.services", "daemon.engine", "daemon.store", "daemon.app")
            ), (path.name, module)


async def test_the_protocol_layer_answers_lines_without_a_socket() -> None:
    """Like varlink's ``Service.handle``: bytes in, bytes out; the transport only frames."""
    import asyncio
    import json

    from daemon.rpc.dispatch import Dispatcher
    from daemon.rpc.transport import Reply
    from daemon.rpc.unix_socket import PeerCredentials
    from tests.test_rpc_protocol import DummyApp, make_registry

    class NoSocket:
        peer = PeerCredentials(pid=1, uid=0, gid=0)
        slots = asyncio.Semaphore(4)

        def batch_started(self) -> None: ...

        def batch_finished(self) -> None: ...

    dispatcher = Dispatcher(make_registry(), DummyApp())
    connection: Any = NoSocket()
    assert dispatcher.receive(b"  ", connection) is None
    refused = dispatcher.receive(b"{not json", connection)
    assert isinstance(refused, bytes) and json.loads(refused)["error"]["code"] == -32700
    pending = dispatcher.receive(
        b'{"jsonrpc":"2.0","method":"test.echo","params":["a",2],"id":7}', connection
    )
    assert not isinstance(pending, bytes) and pending is not None
    reply = await pending
    assert isinstance(reply, Reply) and reply.line is not None
    assert json.loads(reply.line) == {"jsonrpc": "2.0", "result": {"text": "aa"}, "id": 7}
    batch = dispatcher.receive(
        b'[{"jsonrpc":"2.0","method":"test.add","params":{"amount":1}}]', connection
    )
    assert batch is not None and not isinstance(batch, bytes)
    assert (await batch).line is None  # a batch of notifications: nothing to send

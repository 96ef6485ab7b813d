"""The socket file and the peer on the other end: what the kernel says, nothing about JSON.

Binding never replaces what it must not (a symlink, a regular file, a live daemon's socket),
and unlinking never removes a socket a newer daemon has put at the same path. Peers are named
by SO_PEERCRED, recorded by the kernel at ``connect()``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import struct
from dataclasses import dataclass

from daemon.dirs import make_dirs

log = logging.getLogger(__name__)

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13; Python lacks the constant


class SocketInUse(RuntimeError):
    """Another daemon answers on the socket path: two daemons must not share one state."""


class UnsafeSocketPath(RuntimeError):
    """The socket path holds something we must not replace (a symlink, a regular file...)."""


@dataclass(frozen=True)
class PeerCredentials:
    """Who is on the other end of the socket, as the kernel recorded it at ``connect()``."""

    pid: int
    uid: int
    gid: int


UNKNOWN_PEER = PeerCredentials(pid=0, uid=-1, gid=-1)


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


def peer_groups(sock: socket.socket, peer: PeerCredentials) -> set[int]:
    """The peer's supplementary groups: as recorded at connect() where the kernel can say.

    Falls back to /proc/<pid>/status (checked against the peer's uid, in case the pid was
    reused) and then to the group database.
    """
    size = 4 * 64
    while size <= 4 * 65536:
        try:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, size)
            return set(struct.unpack(f"{len(raw) // 4}I", raw))
        except OSError as exc:
            if exc.errno != errno.ERANGE:
                break
            size *= 4
    try:
        with open(f"/proc/{peer.pid}/status", encoding="ascii") as status:
            lines = dict(line.split(":", 1) for line in status if ":" in line)
        if int(lines["Uid"].split()[1]) == peer.uid:
            return {int(g) for g in lines["Groups"].split()}
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        import pwd

        return set(os.getgrouplist(pwd.getpwuid(peer.uid).pw_name, peer.gid))
    except (KeyError, OSError):
        return set()


Inode = tuple[int, int]


def bind_unix_socket(path: str, mode: int, group: int | None = None) -> tuple[socket.socket, Inode]:
    """A socket bound at ``path`` with file mode ``mode``, and the inode it was bound to.

    A missing parent directory is created, readable by whoever the mode lets connect. A
    stale socket file (nobody listens) is replaced; anything else at the path is an error.
    ``group`` (the admin group) gets the socket, and the directory made for it: run as root,
    the file would otherwise be root's group and the group's members could not connect.
    """
    parent = os.path.dirname(os.path.abspath(path))
    made_parent = not os.path.isdir(parent)
    if made_parent:
        dir_mode = 0o700
        if mode & 0o070:
            dir_mode |= 0o050
        if mode & 0o007:
            dir_mode |= 0o005
        make_dirs(parent, dir_mode)
    _replace_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o777 & ~mode)
    try:
        sock.bind(path)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SocketInUse(f"{path} appeared while the daemon was starting.") from None
        raise
    finally:
        os.umask(old_umask)
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):  # pragma: no cover - replaced under our feet
        sock.close()
        raise UnsafeSocketPath(f"{path} was replaced while the daemon was starting.")
    if stat.S_IMODE(st.st_mode) != mode:
        os.chmod(path, mode)
    if group is not None and mode & 0o070:
        for owned in [path, parent] if made_parent else [path]:
            _give_to_group(owned, group)
    # Listen at once: a client that sees the socket file (a test, a CLI started right after the
    # daemon) is queued in the backlog instead of refused before the event loop serves it.
    sock.listen(128)
    return sock, (st.st_dev, st.st_ino)


def _give_to_group(path: str, group: int) -> None:
    if os.lstat(path).st_gid == group:
        return
    try:
        os.chown(path, -1, group, follow_symlinks=False)
    except OSError as exc:
        log.warning(
            "cannot give %s to the admin group (gid %d): %s; its members cannot connect",
            path,
            group,
            exc.strerror,
        )


def _replace_stale(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise UnsafeSocketPath(
            f"{path} is a symbolic link; the daemon will not follow it. "
            "Remove it or choose another socket path."
        )
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeSocketPath(
            f"{path} exists and is not a socket; the daemon will not replace it."
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        log.info("removing the stale socket %s", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    except OSError as exc:
        raise SocketInUse(
            f"Cannot tell whether a daemon listens on {path} ({exc.strerror}); not replacing it."
        ) from None
    finally:
        probe.close()
    raise SocketInUse(
        f"Another daemon is already listening on {path}; stop it first or use another socket."
    )


def unlink_if_ours(path: str, inode: Inode) -> None:
    """Remove our socket file, but not one a newer daemon has put at the same path."""
    try:
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass


__all__ = [
    "UNKNOWN_PEER",
    "PeerCredentials",
    "SocketInUse",
    "UnsafeSocketPath",
    "bind_unix_socket",
    "peer_credentials",
    "peer_groups",
    "unlink_if_ours",
]

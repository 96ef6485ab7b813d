"""Which key seals the secrets at rest: the configured file, a systemd credential, or one the
daemon creates on its first start. Plain storage only when the configuration asks for it.

The created key lives next to the state dir, not in it (``/var/lib/bexsync-keys/secrets.key``
beside ``/var/lib/bexsync``): a copy of the database or of its backups alone reveals nothing.
Lose the key and the stored logins must be made again, so back it up (README).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from daemon.dirs import make_dirs
from providers.tokens import SecretBox, SecretBoxError

log = logging.getLogger("bexsync.secrets")

KEY_CREDENTIAL = "bexsync-secrets-key"
"""``LoadCredential=bexsync-secrets-key:...`` (or LoadCredentialEncrypted=) in the unit."""
KEY_NAME = "secrets.key"


def default_key_path(state_dir: Path) -> Path:
    return state_dir.parent / f"{state_dir.name}-keys" / KEY_NAME


def secrets_box(
    state_dir: Path, *, key_file: str | None, plain: bool, credentials_dir: str | None
) -> SecretBox | None:
    """The box that seals secrets, or None when the configuration opts into plain storage.

    ``SecretBoxError`` when a key cannot be read or created (the message says where and why).
    """
    if plain:
        log.warning(
            "secrets are stored in plain text in the database (plain_secrets = true in the "
            "configuration); remove that line to seal them with a key"
        )
        return None
    if key_file:
        return SecretBox.from_file(key_file)
    if credentials_dir and (Path(credentials_dir) / KEY_CREDENTIAL).is_file():
        return SecretBox.from_file(Path(credentials_dir) / KEY_CREDENTIAL)
    path = default_key_path(state_dir)
    if not path.exists() and not path.is_symlink():
        _create_key(path)
    return SecretBox.from_file(path)


def _create_key(path: Path) -> None:
    """A new random key, 0600 in a 0700 directory, written whole or not at all."""
    folder = path.parent
    if folder.is_symlink():
        raise SecretBoxError(f"{folder} is a symbolic link; refusing to keep the key there")
    try:
        make_dirs(folder, 0o700)
        if not stat.S_ISDIR(folder.lstat().st_mode):
            raise SecretBoxError(f"{folder} is not a directory")
        os.chmod(folder, 0o700)
        making = path.with_name(path.name + ".new")
        making.unlink(missing_ok=True)
        fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, SecretBox.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(making, path)
    except OSError as exc:
        raise SecretBoxError(
            f"cannot create {path}: {exc.strerror}; under systemd the unit needs "
            "StateDirectory=bexsync bexsync-keys (compare it with the shipped unit), or set "
            "encryption_key_file in the configuration"
        ) from None
    log.warning(
        "created the key that seals stored secrets: %s; back it up (without it the stored "
        "logins cannot be read)",
        path,
    )

"""SSH keys for the stand-in and its users, generated fresh and written in
OpenSSH's formats so that both paramiko and OpenSSH's `ssh` (used by git)
read them."""
from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    """A private key file (mode 0600) with its public half beside it (`.pub`)."""
    path: str
    public: str            # "ssh-ed25519 AAAA..." as in authorized_keys

    @property
    def fingerprint(self) -> str:
        return public_key(self.public).fingerprint


def generate(path: str, comment: str = "") -> KeyPair:
    """A new ed25519 key written to `path` (and `path`.pub)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    key = paramiko.Ed25519Key(file_obj=io.StringIO(pem.decode()))
    public = f"{key.get_name()} {key.get_base64()}"
    with open(path + ".pub", "w") as f:
        f.write(f"{public} {comment}".rstrip() + "\n")
    return KeyPair(path, public)


def load(path: str) -> KeyPair:
    with open(path + ".pub") as f:
        kind, blob = f.read().split()[:2]
    return KeyPair(path, f"{kind} {blob}")


def public_key(line: str) -> paramiko.PKey:
    """The paramiko key of an authorized_keys style line."""
    kind, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def known_hosts_line(host: str, port: int, public: str) -> str:
    """A known_hosts entry as OpenSSH writes it for a non-default port."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {public}\n"

"""Login for a server reachable beyond this machine: ``python -m app --host 0.0.0.0 --auth-file users.txt``.

The file holds one ``user:password`` per line; a password may be stored hashed as ``user:sha256:<64 hex digits>``
(``python -m app.auth hash`` prints such a line). Blank lines and ``#`` comments are skipped. Passwords are never
printed or logged: a malformed line is reported by its number only. Gradio's own login (``launch(auth=...)``)
guards the page and the API alike; ``gradio_client.Client(url, auth=(user, password))`` logs in.

Example:
    >>> check = checker(parse_auth_lines(["ann:secret", "bob:sha256:" + sha256_hex("pw")]))
    >>> check("ann", "secret"), check("bob", "pw"), check("bob", "secret"), check("eve", "x")
    (True, True, False, False)
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import ipaddress
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["checker", "is_loopback", "load_auth_file", "parse_auth_lines", "sha256_hex"]

_HASHED = "sha256:"


def sha256_hex(password: str) -> str:
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def parse_auth_lines(lines: Iterable[str], source: str = "auth file") -> dict[str, str]:
    """``{user: sha256 hex of the password}``; ValueError naming the line number (never its content)."""
    users: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, secret = line.partition(":")
        if not sep or not user.strip() or not secret:
            raise ValueError(f"{source}, line {number}: expected user:password (or user:sha256:<hex>)")
        if secret.startswith(_HASHED):
            digest = secret[len(_HASHED) :].strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(f"{source}, line {number}: a sha256: password needs 64 hex digits")
        else:
            digest = sha256_hex(secret)
        if user.strip() in users:
            raise ValueError(f"{source}, line {number}: user {user.strip()!r} appears twice")
        users[user.strip()] = digest
    if not users:
        raise ValueError(f"{source} has no user:password line")
    return users


def load_auth_file(path: str | Path) -> dict[str, str]:
    """Read and check ``path`` (see the module docstring); ValueError with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"--auth-file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--auth-file {path} could not be read ({type(exc).__name__})") from None
    return parse_auth_lines(text.splitlines(), source=f"--auth-file {path}")


def checker(users: dict[str, str]) -> Callable[[str, str], bool]:
    """Gradio's ``auth`` callable: constant-time comparison of password hashes."""

    def check(user: str, password: str) -> bool:
        want = users.get(user)
        got = sha256_hex(password or "")
        return want is not None and hmac.compare_digest(want, got)

    return check


def is_loopback(host: str) -> bool:
    """True for addresses only this machine reaches (127.x, ::1, localhost)."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """``python -m app.auth hash [USER]``: prompt for a password, print a ``user:sha256:...`` line for the file."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m app.auth", description="Make lines for python -m app --auth-file.")
    sub = p.add_subparsers(dest="command", required=True)
    h = sub.add_parser(
        "hash",
        help="prompt for a password and print a user:sha256:<hex> line (the password is "
        "not echoed and not stored in clear)",
    )
    h.add_argument("user", nargs="?", default=None, help="the user name (prompted when left out)")
    args = p.parse_args(argv)
    user = args.user or input("user: ")
    if ":" in user or not user.strip():
        print("error: a user name must be non-empty and contain no ':'", file=sys.stderr)
        return 2
    password = getpass.getpass("password: ")
    print(f"{user}:{_HASHED}{sha256_hex(password)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

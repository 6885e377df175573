"""Who may talk to the sandbox's API server, and over what.

Two ports, as kube-apiserver had in the seed's days: the secure port (6443, TLS with the
certificate the master's highstate made in ``srv/kubernetes``) authenticates every
request with a bearer token from ``known_tokens.csv``; the insecure port (8080) has no
authentication at all, and here it is read-only.
"""

from __future__ import annotations

import csv
import ssl
from pathlib import Path

TOKENS = Path("srv/kubernetes/known_tokens.csv")
SERVER_CERT = Path("srv/kubernetes/server.cert")
SERVER_KEY = Path("srv/kubernetes/server.key")
READS = ("GET", "HEAD")


class TokenFile:
    """known_tokens.csv (token,user,uid), re-read whenever it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, int] | None = None
        self._tokens: set[str] = set()

    def tokens(self) -> set[str]:
        try:
            st = self.path.stat()
        except OSError:
            self._seen, self._tokens = None, set()
            return self._tokens
        if self._seen != (st.st_mtime, st.st_size):
            try:
                rows = list(csv.reader(self.path.read_text().splitlines()))
            except (OSError, csv.Error):
                rows = []
            self._tokens = {row[0].strip() for row in rows if row and row[0].strip()}
            self._seen = (st.st_mtime, st.st_size)
        return self._tokens


def bearer(header: str) -> str:
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def server_context(root: Path) -> tuple[ssl.SSLContext | None, str]:
    """TLS for the secure port from the master's disk; (None, why) when it cannot serve."""
    cert, key = root / SERVER_CERT, root / SERVER_KEY
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        return None, f"open /{Path(exc.filename or cert).relative_to(root)}: no such file or directory"
    except (OSError, ssl.SSLError) as exc:
        return None, f"failed to load /{SERVER_CERT} and /{SERVER_KEY}: {exc}"
    return context, ""

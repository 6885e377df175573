"""`systemctl` on a sandbox node: asks the node's init (PID 1) over /run/systemd/private."""

from __future__ import annotations

import json
import socket
import sys

PRIVATE = "/run/systemd/private"


def ask(request: dict, timeout: float = 600.0) -> dict:
    """One request to the init; the answer as a dict."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(PRIVATE)
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return json.loads(data)


def main(argv: list[str]) -> int:
    try:
        reply = ask({"argv": argv})
    except OSError:
        print("System has not been booted with systemd as init system (PID 1). Can't operate.\n"
              "Failed to connect to bus: Host is down", file=sys.stderr)
        return 1
    sys.stdout.write(reply["out"])
    sys.stderr.write(reply["err"])
    return int(reply["status"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

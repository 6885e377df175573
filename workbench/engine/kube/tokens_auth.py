"""Does the running API server accept a token? Asked on the master, the token on stdin.

kube-apiserver reads ``--token-auth-file`` once, at start: a known_tokens.csv rewritten
under it (the seed's token regeneration) holds rows the running server does not know yet.
The token-mismatch fix writes the csv's token into a kubeconfig, so it must know whether
the server accepts that token, and restart the server when it does not. The request is
made by ``python3`` on the master (the token read from stdin, never on a command line) to
the secure port; its certificate is not checked: only the answer's status matters.
"""

from __future__ import annotations

import shlex

from workbench.engine.kube.client import SECURE_PORT
from workbench.engine.ssh.pool import NodeLike, SSHPool
from workbench.errors import NodeError

CHECK = r'''
import ssl, sys, urllib.error, urllib.request
token = sys.stdin.readline().strip()
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + token})
try:
    print(urllib.request.urlopen(request, context=ssl._create_unverified_context(), timeout=5).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print(0)
'''


async def token_status(pool: SSHPool, master: NodeLike, token: str, *, port: int = SECURE_PORT) -> int:
    """The HTTP status the master's API server answers ``/api`` with for ``token``
    (401: it does not know the token; 0: it did not answer)."""
    host = master.fixed_ip or "127.0.0.1"
    url = f"https://{host}:{port}/api"
    result = await pool.run(master, f"python3 -c {shlex.quote(CHECK)} {shlex.quote(url)}", input=token + "\n")
    try:
        return int(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise NodeError(master.name, f"could not ask the API server about a token: "
                        f"{(result.stderr.strip().splitlines() or ['no answer'])[-1]}") from None

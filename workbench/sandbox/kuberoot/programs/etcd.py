"""A one-member etcd: the real command line (Go's flag, etcd 3.5's set) and the v3 JSON
gateway (``POST /v3/kv/range|put|deleterange``, base64 keys and values, as etcd's
grpc-gateway speaks it), ``/health`` and ``/version``; keys persist under ``--data-dir``."""

import base64
import datetime
import json
import os
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kflags
import runtime

ETCD_VERSION = runtime.IDENTITY.get("etcdVersion", "3.5.16")
USAGE = "Usage:\n\n  etcd [flags]\n    Start an etcd server.\n\n  etcd --version\n    Show the version of etcd.\n"


def log(level, caller, msg, **fields):
    entry = {"level": level, "ts": datetime.datetime.now().astimezone().isoformat(timespec="microseconds"),
             "caller": caller, "msg": msg, **fields}
    sys.stderr.write(json.dumps(entry) + "\n")
    sys.stderr.flush()


class Store:
    def __init__(self, data_dir):
        self.path = os.path.join(data_dir, "member", "snap", "db.json")
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        self.lock = threading.Lock()
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            doc = {"revision": 1, "kvs": {}}
        self.revision = doc["revision"]
        self.kvs = doc["kvs"]  # key (b64) -> {"value", "create_revision", "mod_revision", "version"}

    def _save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"revision": self.revision, "kvs": self.kvs}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _keys(self, key, range_end):
        k = base64.b64decode(key or "")
        if not range_end:
            return [key] if key in self.kvs else []
        end = base64.b64decode(range_end)
        return sorted(x for x in self.kvs
                      if base64.b64decode(x) >= k and (end == b"\0" or base64.b64decode(x) < end))

    def header(self):
        return {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
                "revision": str(self.revision), "raft_term": "2"}

    def range(self, req):
        with self.lock:
            keys = self._keys(req.get("key"), req.get("range_end"))
            kvs = [{"key": k, **{f: (str(v) if f != "value" else v) for f, v in self.kvs[k].items()}} for k in keys]
            out = {"header": self.header(), "count": str(len(kvs))}
            if not req.get("count_only") and kvs:
                out["kvs"] = kvs
            return out

    def put(self, req):
        with self.lock:
            self.revision += 1
            old = self.kvs.get(req["key"])
            self.kvs[req["key"]] = {"value": req.get("value", ""),
                                    "create_revision": old["create_revision"] if old else self.revision,
                                    "mod_revision": self.revision, "version": (old["version"] + 1) if old else 1}
            self._save()
            return {"header": self.header()}

    def delete(self, req):
        with self.lock:
            keys = self._keys(req.get("key"), req.get("range_end"))
            if keys:
                self.revision += 1
                for k in keys:
                    del self.kvs[k]
                self._save()
            return {"header": self.header(), "deleted": str(len(keys))}


def handler_for(store):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def _reply(self, code, doc):
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                return self._reply(200, {"health": "true", "reason": ""})
            if self.path == "/version":
                return self._reply(200, {"etcdserver": ETCD_VERSION, "etcdcluster": "3.5.0"})
            self._reply(404, {"error": "Not Found", "code": 5})

        def do_POST(self):
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            except ValueError:
                return self._reply(400, {"error": "invalid JSON", "code": 3})
            op = {"/v3/kv/range": store.range, "/v3/kv/put": store.put, "/v3/kv/deleterange": store.delete}
            if self.path not in op:
                return self._reply(404, {"error": "Not Found", "code": 5})
            self._reply(200, op[self.path](req))

    return Handler


def main(argv):
    table = None if runtime.TABLE is None else runtime.TABLE.get("etcd")
    try:
        values, rest = kflags.parse_goflag(argv, table)
    except kflags.FlagError as exc:
        print(exc, file=sys.stderr)
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    if rest:
        print(f"'{rest[0]}' is not a valid flag", file=sys.stderr)
        sys.exit(1)
    if kflags.as_bool(values.get("version", "false")):
        print(f"etcd Version: {ETCD_VERSION}\nGit SHA: {runtime.IDENTITY.get('gitCommit', '')[:7]}\n"
              f"Go Version: go1.22.7\nGo OS/Arch: linux/amd64")
        sys.exit(0)
    name = values.get("name", "default")
    data_dir = values.get("data-dir") or f"{name}.etcd"
    listen = values.get("listen-client-urls", "http://localhost:2379")
    log("info", "etcdmain/etcd.go:73", "Running: ", args=[sys.argv[0], *argv])
    store = Store(data_dir)
    servers = []
    for raw in listen.split(","):
        url = urllib.parse.urlsplit(raw.strip())
        if url.scheme not in ("http", "https"):
            log("warn", "etcdmain/etcd.go:146", "failed to start etcd", error=f"URL scheme must be http, https, unix, or unixs: {raw}")
            sys.exit(1)
        try:
            server = ThreadingHTTPServer((url.hostname, url.port or 2379), handler_for(store))
        except OSError as exc:
            log("fatal", "etcdmain/etcd.go:204", "discovery failed", error=f"listen tcp {url.netloc}: bind: {exc.strerror}")
            sys.exit(1)
        if url.scheme == "https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(values.get("cert-file", ""), values.get("key-file", ""))
            if kflags.as_bool(values.get("client-cert-auth", "false")):
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(values.get("trusted-ca-file"))
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        log("info", "embed/serve.go:187", "serving client traffic insecurely; this is strongly discouraged!"
            if url.scheme == "http" else "serving client traffic securely", address=url.netloc)
    log("info", "etcdserver/server.go:2068", "published local member to cluster through raft",
        **{"local-member-attributes": {"name": name, "client-urls": values.get("advertise-client-urls", listen).split(",")}})
    log("info", "etcdmain/main.go:44", "notifying init daemon")
    runtime.wait_forever(lambda: [s.shutdown() for s in servers])

"""kube-apiserver driven only by its flags and files: TLS on --bind-address:--secure-port,
client certificates checked against --client-ca-file (CN user, O groups), bearer tokens
from --token-auth-file, --authorization-mode (AlwaysAllow, Node, RBAC's bootstrap roles),
objects in etcd (--etcd-servers). Enough API for kubectl and the kubelet: discovery,
version, namespaces, nodes (+status), pods, services. The seed era's (before 1.10) also
serves its insecure port (--insecure-bind-address/--address, --insecure-port/--port, 8080 on
127.0.0.1 by default): plain HTTP, no authentication, every request allowed; and needs no
service-account issuer."""

import csv
import ipaddress
import json
import re
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import discovery
import kflags
import klog
import objects
import runtime
import storage

PUBLIC = ("/healthz", "/livez", "/readyz", "/version")
KINDS = {"nodes": "Node", "pods": "Pod", "services": "Service", "namespaces": "Namespace"}
ETCD_RESOURCE = {"nodes": "minions", "pods": "pods", "services": "services/specs", "namespaces": "namespaces"}


class Config:
    def __init__(self, values):
        get = lambda name, default="": kflags.last(values, name, default)  # noqa: E731
        errors = []
        self.etcd_servers = get("etcd-servers")
        if not self.etcd_servers:
            errors.append("--etcd-servers must be specified")
        self.issuer = get("service-account-issuer")
        self.signing_key = get("service-account-signing-key-file")
        if not self.issuer and not runtime.SEED_ERA:
            errors.append("service-account-issuer is a required flag")
        if (not self.signing_key or not self.issuer) and not runtime.SEED_ERA:
            errors.append("--service-account-signing-key-file and --service-account-issuer are required flags")
        if errors:
            runtime.fail_run(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
        self.port = int(get("secure-port", "6443"))
        self.insecure_port, self.insecure_bind = 0, ""
        if runtime.SEED_ERA:
            self.insecure_port = int(get("insecure-port") or get("port") or "8080")
            self.insecure_bind = get("insecure-bind-address") or get("address") or "127.0.0.1"
        self.bind = get("bind-address", "0.0.0.0")
        self.advertise = get("advertise-address") or (self.bind if self.bind not in ("0.0.0.0", "::") else "127.0.0.1")
        self.cert, self.key = get("tls-cert-file"), get("tls-private-key-file")
        self.client_ca, self.token_file = get("client-ca-file"), get("token-auth-file")
        for flag, path in (("tls-cert-file", self.cert), ("tls-private-key-file", self.key),
                           ("client-ca-file", self.client_ca), ("token-auth-file", self.token_file),
                           ("basic-auth-file", get("basic-auth-file")),
                           ("service-account-signing-key-file", self.signing_key)):
            runtime.need_file(flag, path)
        keys = values.get("service-account-key-file", [])
        for path in [keys] if isinstance(keys, str) else keys:
            runtime.need_file("service-account-key-file", path)
        if not self.cert:
            runtime.fail_run("--tls-cert-file and --tls-private-key-file are required here: "
                             "this sandbox API server does not self-sign (--cert-dir)")
        self.modes = [m.strip() for m in get("authorization-mode", "AlwaysAllow").split(",") if m.strip()]
        self.anonymous = kflags.as_bool(get("anonymous-auth", "true"))
        cidr = get("service-cluster-ip-range", "10.0.0.0/24").split(",")[0]
        try:
            self.service_ip = str(next(ipaddress.ip_network(cidr, strict=False).hosts()))
        except ValueError:
            runtime.fail_run(f"service-cluster-ip-range[0]: Invalid value: \"{cidr}\": not a valid CIDR")
        self.etcd = storage.Etcd(self.etcd_servers, get("etcd-prefix", "/registry"), get("etcd-cafile"),
                                 get("etcd-certfile"), get("etcd-keyfile"))


def read_tokens(path):
    """token,user,uid[,"group1,group2"] (the --token-auth-file format)."""
    tokens = {}
    if not path:
        return tokens
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) >= 3 and row[0].strip():
                groups = [g for g in (row[3].split(",") if len(row) > 3 else []) if g]
                tokens[row[0].strip()] = (row[1], groups)
    return tokens


def allowed(modes, user, groups, verb, resource, name, path):
    """AlwaysAllow; Node (system:node:<name> in system:nodes); RBAC's bootstrap bindings."""
    if "AlwaysAllow" in modes:
        return True
    if path in PUBLIC or path.startswith(tuple(p + "/" for p in PUBLIC)):
        return True
    authenticated = "system:authenticated" in groups
    if authenticated and (path in ("/api", "/apis") or (path.startswith(("/api/v1", "/apis/", "/openapi")) and not resource)):
        return True
    node = "Node" in modes and "system:nodes" in groups and user.startswith("system:node:")
    if node and (resource in ("nodes", "nodes/status") or verb in ("get", "list", "watch")):
        return True
    if "RBAC" in modes:
        if "system:masters" in groups or user in ("system:kube-controller-manager", "system:kube-scheduler"):
            return True
        if user == "system:kube-proxy" and verb in ("get", "list", "watch"):
            return True
    return False


class Api:
    def __init__(self, cfg):
        self.cfg = cfg
        self.tokens = read_tokens(cfg.token_file)
        self.lock = threading.Lock()

    def bootstrap(self):
        now = objects.stamp(time.time())
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if self.cfg.etcd.get("namespaces", "", ns) is None:
                self.cfg.etcd.put("namespaces", "", ns, {"kind": "Namespace", "apiVersion": "v1",
                    "metadata": {"name": ns, "uid": str(uuid.uuid4()), "creationTimestamp": now,
                                 "labels": {"kubernetes.io/metadata.name": ns}},
                    "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        if self.cfg.etcd.get("services/specs", "default", "kubernetes") is None:
            self.cfg.etcd.put("services/specs", "default", "kubernetes", {"kind": "Service", "apiVersion": "v1",
                "metadata": {"name": "kubernetes", "namespace": "default", "uid": str(uuid.uuid4()),
                             "creationTimestamp": now, "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": self.cfg.service_ip,
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": self.cfg.port}]},
                "status": {"loadBalancer": {}}})

    def authenticate(self, handler):
        """(user, groups) or None for a bad credential (401)."""
        if getattr(handler, "insecure", False):  # the seed era's insecure port trusts everyone
            return "system:unsecured", ["system:masters", "system:authenticated"]
        header = handler.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            found = self.tokens.get(header[7:].strip())
            if found is None:
                return None
            return found[0], [*found[1], "system:authenticated"]
        cert = handler.connection.getpeercert() if hasattr(handler.connection, "getpeercert") else None
        if cert:
            subject = [pair for rdn in cert.get("subject", ()) for pair in rdn]
            cn = next((v for k, v in subject if k == "commonName"), "")
            return cn, [v for k, v in subject if k == "organizationName"] + ["system:authenticated"]
        if self.cfg.anonymous:
            return "system:anonymous", ["system:unauthenticated"]
        return None


def route(path):
    """(resource, namespace, name, subresource) of a core/v1 path, or None."""
    m = re.fullmatch(r"/api/v1(?:/namespaces/([^/]+))?/(nodes|pods|services|namespaces)(?:/([^/]+))?(?:/(status))?", path)
    if not m:
        m2 = re.fullmatch(r"/api/v1/namespaces(?:/([^/]+))?", path)
        return ("namespaces", None, m2.group(1), None) if m2 else None
    ns, resource, name, sub = m.groups()
    return resource, ns, name, sub


def handler_for(api, insecure=False):
    cfg = api.cfg

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, code, doc, content_type="application/json"):
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def body(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
            return json.loads(raw) if raw else {}

        def handle_any(self, verb):
            path, _, query = self.path.partition("?")
            params = dict(p.partition("=")[::2] for p in query.split("&") if p)
            who = api.authenticate(self)
            if who is None:
                klog.error("authentication.go:73", "Unable to authenticate the request", err="invalid bearer token")
                return self.reply(401, discovery.status(401, "Unauthorized", "Unauthorized"))
            user, groups = who
            r = route(path)
            resource = (r[0] + ("/status" if r[3] else "")) if r else ""
            if verb == "get" and r and not r[2]:
                verb = "list"
            if not allowed(cfg.modes, user, groups, verb, resource, r[2] if r else "", path):
                what = (f'{resource} is forbidden: User "{user}" cannot {verb} resource "{r[0]}" in API group "" '
                        + (f'in the namespace "{r[1]}"' if r and r[1] else "at the cluster scope")) if r else \
                       f'forbidden: User "{user}" cannot {verb} path "{path}"'
                return self.reply(403, discovery.status(403, "Forbidden", what))
            try:
                self.serve(verb, path, params, r)
            except OSError as exc:
                self.reply(500, discovery.status(500, "InternalError", f"etcd: {exc}"))

        def serve(self, verb, path, params, r):
            if path in ("/healthz", "/livez", "/readyz"):
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", "2")
                self.end_headers()
                return self.wfile.write(body)
            if path == "/version":
                return self.reply(200, runtime.version_info())
            if path == "/api":
                return self.reply(200, discovery.api_versions(f"{cfg.advertise}:{cfg.port}"))
            if path == "/apis":
                return self.reply(200, discovery.api_groups())
            if path == "/api/v1":
                return self.reply(200, discovery.resource_list())
            if r is None:
                return self.reply(404, discovery.status(404, "NotFound", "the server could not find the requested resource"))
            resource, ns, name, sub = r
            store = ETCD_RESOURCE[resource]
            accept = self.headers.get("Accept", "")
            if verb == "list":
                items, revision = cfg.etcd.list(store, ns)
                if resource == "namespaces" or resource == "nodes":
                    items, revision = cfg.etcd.list(store)
                selector = urlunquote(params.get("labelSelector", ""))
                items = [i for i in items if not selector or objects.matches(i, selector)]
                if discovery.wants_table(accept):
                    table = discovery.table(KINDS[resource], items, params.get("includeObject", "PartialObjectMetadata"))
                    return self.reply(200, table, discovery.TABLE_CONTENT_TYPE)
                return self.reply(200, {"kind": KINDS[resource] + "List", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(revision)}, "items": items})
            if verb == "create":
                obj = self.body()
                name = (obj.get("metadata") or {}).get("name")
                if not name:
                    return self.reply(422, discovery.status(422, "Invalid", f"{KINDS[resource]} \"\" is invalid: metadata.name: Required value: name or generateName is required"))
                with api.lock:
                    if cfg.etcd.get(store, ns, name) is not None:
                        return self.reply(409, discovery.status(409, "AlreadyExists", f'{resource} "{name}" already exists', name=name, kind=resource))
                    meta = obj.setdefault("metadata", {})
                    meta.update({"uid": str(uuid.uuid4()), "creationTimestamp": objects.stamp(time.time())})
                    if ns:
                        meta["namespace"] = ns
                    obj.update({"kind": KINDS[resource], "apiVersion": "v1"})
                    return self.reply(201, cfg.etcd.put(store, ns, name, obj))
            current = cfg.etcd.get(store, ns, name)
            if current is None:
                return self.reply(404, discovery.status(404, "NotFound", f'{resource} "{name}" not found', name=name, kind=resource))
            if verb == "get":
                if discovery.wants_table(accept):
                    table = discovery.table(KINDS[resource], [current], params.get("includeObject", "PartialObjectMetadata"))
                    return self.reply(200, table, discovery.TABLE_CONTENT_TYPE)
                return self.reply(200, current)
            if verb in ("patch", "update"):
                change = self.body()
                with api.lock:
                    current = cfg.etcd.get(store, ns, name)
                    if sub:  # status: the whole status, or merged keys (conditions replaced wholesale)
                        current["status"] = {**current.get("status", {}), **(change.get("status") or {})}
                    else:
                        meta = current["metadata"]
                        labels = {**meta.get("labels", {}), **((change.get("metadata") or {}).get("labels") or {})}
                        current = {**current, **{k: v for k, v in change.items() if k not in ("metadata", "status")}}
                        current["metadata"] = {**meta, "labels": labels}
                    return self.reply(200, cfg.etcd.put(store, ns, name, current))
            self.reply(405, discovery.status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))

        def do_GET(self):
            self.handle_any("get")

        def do_POST(self):
            self.handle_any("create")

        def do_PUT(self):
            self.handle_any("update")

        def do_PATCH(self):
            self.handle_any("patch")

        def do_DELETE(self):
            self.handle_any("delete")

    Handler.insecure = insecure
    return Handler


def urlunquote(text):
    import urllib.parse
    return urllib.parse.unquote_plus(text)


def main(argv):
    values = runtime.parse(argv)
    cfg = Config(values)
    klog.info("options.go:228", "external host was not specified, using " + cfg.advertise)
    klog.info("server.go:143", "Version: " + runtime.VERSION)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cfg.cert, cfg.key or None)
    except (ssl.SSLError, OSError) as exc:
        runtime.fail_run(f"failed to load serving cert/key pair {cfg.cert}, {cfg.key}: {exc}")
    if cfg.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        try:
            ctx.load_verify_locations(cfg.client_ca)
        except (ssl.SSLError, OSError) as exc:
            runtime.fail_run(f"unable to load client CA provider: {cfg.client_ca}: {exc}")
    if not cfg.etcd.ready(float(kflags.duration(kflags.last(values, "storage-initialization-timeout", "1m")))):
        runtime.fail_run(f"error creating storage factory: context deadline exceeded: etcd at {cfg.etcd_servers} unreachable")
    api = Api(cfg)
    api.bootstrap()
    try:
        server = ThreadingHTTPServer((cfg.bind, cfg.port), handler_for(api))
    except OSError as exc:
        runtime.fail_run(f"failed to create listener: failed to listen on {cfg.bind}:{cfg.port}: listen tcp {cfg.bind}:{cfg.port}: bind: {exc.strerror}")
    server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    klog.info("secure_serving.go:213", "Serving securely on " + f"{cfg.bind}:{cfg.port}")
    stops = [server.shutdown]
    if cfg.insecure_port:
        where = f"{cfg.insecure_bind}:{cfg.insecure_port}"
        try:
            plain = ThreadingHTTPServer((cfg.insecure_bind, cfg.insecure_port), handler_for(api, insecure=True))
        except OSError as exc:
            runtime.fail_run(f"failed to listen on {where}: listen tcp {where}: bind: {exc.strerror}")
        plain.daemon_threads = True
        threading.Thread(target=plain.serve_forever, daemon=True).start()
        klog.info("server.go:585", "Serving insecurely on " + where)
        stops.append(plain.shutdown)
    runtime.wait_forever(lambda: [stop() for stop in stops])


if __name__ == "__main__":
    main(sys.argv[1:])

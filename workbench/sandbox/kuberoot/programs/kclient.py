"""A component's client: a kubeconfig read as client-go reads it, and JSON over HTTPS."""

import base64
import http.client
import json
import os
import ssl
import tempfile
import urllib.parse

import miniyaml


class ConfigError(Exception):
    pass


class ApiError(Exception):
    def __init__(self, code, status):
        self.code = code
        self.status = status
        message = status.get("message") if isinstance(status, dict) else None
        if code == 401 and not message:
            message = "the server has asked for the client to provide credentials"
        super().__init__(message or f"the server returned {code}")


def _material(entry, key, base):
    """A file path, or inline *-data written to a private temp file (ssl wants paths)."""
    data = entry.get(f"{key}-data")
    if data:
        fd, path = tempfile.mkstemp(prefix="kube-", suffix=".pem")
        os.write(fd, base64.b64decode(data))
        os.close(fd)
        return path
    path = entry.get(key)
    if path and not os.path.isabs(path):
        path = os.path.join(base, path)
    if path and not os.path.exists(path):
        raise ConfigError(f"open {path}: no such file or directory")
    return path


class Client:
    def __init__(self, kubeconfig_path, server=None):
        """``server`` (--master, --api-servers) overrides the kubeconfig's, as client-go's
        BuildConfigFromFlags does; with no kubeconfig it is all there is."""
        doc = {}
        if kubeconfig_path:
            try:
                with open(kubeconfig_path) as f:
                    doc = miniyaml.load(f.read()) or {}
            except OSError:
                raise ConfigError(f"stat {kubeconfig_path}: no such file or directory") from None
            except ValueError as exc:
                raise ConfigError(f"error loading config file \"{kubeconfig_path}\": {exc}") from None
        base = os.path.dirname(os.path.abspath(kubeconfig_path or "."))
        contexts = {c["name"]: c.get("context", {}) for c in doc.get("contexts") or []}
        context = contexts.get(doc.get("current-context", ""), next(iter(contexts.values()), {}))
        clusters = {c["name"]: c.get("cluster", {}) for c in doc.get("clusters") or []}
        users = {u["name"]: u.get("user", {}) or {} for u in doc.get("users") or []}
        cluster = clusters.get(context.get("cluster", ""), next(iter(clusters.values()), None))
        if server:
            server = server if "://" in server else f"http://{server}"
            cluster = {**(cluster or {}), "server": server}
        if not cluster or not cluster.get("server"):
            raise ConfigError("invalid configuration: no server found for cluster")
        user = users.get(context.get("user", ""), next(iter(users.values()), {}))
        self.server = cluster["server"].rstrip("/")
        url = urllib.parse.urlsplit(self.server)
        self.host, self.port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
        self.scheme = url.scheme
        self.token = user.get("token") or ""
        if not self.token and user.get("tokenFile"):
            with open(user["tokenFile"]) as f:
                self.token = f.read().strip()
        self.ctx = None
        if self.scheme == "https":
            self.ctx = ssl.create_default_context(cafile=_material(cluster, "certificate-authority", base))
            if cluster.get("insecure-skip-tls-verify"):
                self.ctx.check_hostname = False
                self.ctx.verify_mode = ssl.CERT_NONE
            cert = _material(user, "client-certificate", base)
            if cert:
                self.ctx.load_cert_chain(cert, _material(user, "client-key", base))

    def request(self, method, path, body=None, content_type="application/json"):
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=10)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        headers = {"Accept": "application/json", "User-Agent": "workbench-sandbox"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else {}
        except ValueError:
            doc = {}
        if resp.status >= 400:
            raise ApiError(resp.status, doc)
        return doc

"""The API server's storage: Kubernetes objects as JSON under ``--etcd-prefix`` in etcd,
through etcd's v3 JSON gateway (``/v3/kv/range|put|deleterange``)."""

import base64
import http.client
import json
import ssl
import time
import urllib.parse


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _prefix_end(key):
    raw = bytearray(key.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


class Etcd:
    def __init__(self, servers, prefix="/registry", cafile="", certfile="", keyfile=""):
        self.urls = [urllib.parse.urlsplit(s.strip()) for s in servers.split(",") if s.strip()]
        self.prefix = prefix.rstrip("/")
        self.ctx = None
        if any(u.scheme == "https" for u in self.urls):
            self.ctx = ssl.create_default_context(cafile=cafile or None)
            if certfile:
                self.ctx.load_cert_chain(certfile, keyfile or None)

    def _call(self, path, body):
        last = None
        for url in self.urls:
            cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
            kw = {"context": self.ctx} if url.scheme == "https" else {}
            conn = cls(url.hostname, url.port or 2379, timeout=5, **kw)
            try:
                conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                doc = json.loads(resp.read() or b"{}")
                if resp.status == 200:
                    return doc
                last = OSError(f"etcd {url.netloc}: {resp.status} {doc}")
            except (OSError, ValueError) as exc:
                last = exc
            finally:
                conn.close()
        raise OSError(f"etcd unreachable: {last}")

    def ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("/v3/kv/range", {"key": _b64(self.prefix + "/"), "count_only": True})
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)

    def key(self, resource, namespace, name):
        return "/".join(p for p in (self.prefix, resource, namespace, name) if p)

    def get(self, resource, namespace, name):
        doc = self._call("/v3/kv/range", {"key": _b64(self.key(resource, namespace, name))})
        kvs = doc.get("kvs") or []
        if not kvs:
            return None
        obj = json.loads(base64.b64decode(kvs[0].get("value", "")))
        obj.setdefault("metadata", {})["resourceVersion"] = str(kvs[0].get("mod_revision", "1"))
        return obj

    def list(self, resource, namespace=None):
        key = self.key(resource, namespace, "") + "/"
        doc = self._call("/v3/kv/range", {"key": _b64(key), "range_end": _prefix_end(key)})
        out = []
        for kv in doc.get("kvs") or []:
            obj = json.loads(base64.b64decode(kv.get("value", "")))
            obj.setdefault("metadata", {})["resourceVersion"] = str(kv.get("mod_revision", "1"))
            out.append(obj)
        return out, doc.get("header", {}).get("revision", "1")

    def put(self, resource, namespace, name, obj):
        body = dict(obj)
        body["metadata"] = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
        self._call("/v3/kv/put", {"key": _b64(self.key(resource, namespace, name)), "value": _b64(json.dumps(body))})
        return self.get(resource, namespace, name)

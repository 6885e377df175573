"""What every fake binary shares: its identity, its version's flag table, and how it fails.

``identity.json`` (written by the fake build into each binary) names the component and the
build's version; ``flagtable.json`` is the version's table, or absent for a version we hold
no table for (then every flag is accepted). Exits as the real binaries do: cobra commands
print usage then ``Error: ...`` and exit 1; the kubelet (which parses flags itself) logs
``"command failed"`` through klog and exits 1; etcd (Go's flag) prints the error and its
usage line and exits 2.
"""

import json
import os
import pkgutil
import signal
import sys
import threading

import kflags
import klog


def _data(name):
    try:
        raw = pkgutil.get_data("runtime", name)
    except OSError:
        return None
    return json.loads(raw) if raw else None


IDENTITY = _data("identity.json") or {"component": "unknown", "gitVersion": "v0.0.0"}
TABLE = _data("flagtable.json")
COMPONENT = IDENTITY["component"]
VERSION = IDENTITY["gitVersion"]


def _minor(version):
    try:
        return tuple(int(x) for x in version.lstrip("v").split("-")[0].split(".")[:2])
    except ValueError:
        return (0, 0)


#: Kubernetes before 1.10 (kube-up's Salt tree): the command lines of that era (kubelet
#: --api-servers and --config as a manifest directory, the API server's insecure port,
#: --master for the other components, no service-account issuer)
SEED_ERA = _minor(VERSION) < (1, 10)


def version_info():
    major, minor = VERSION.lstrip("v").split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": VERSION, "gitCommit": IDENTITY.get("gitCommit", ""),
            "gitTreeState": "clean", "buildDate": IDENTITY.get("buildDate", ""),
            "goVersion": IDENTITY.get("goVersion", "go1.23.6"), "compiler": "gc", "platform": "linux/amd64"}


def fail_usage(message):
    """cobra via component-base cli.Run: usage first, then the error; exit 1."""
    print(kflags.usage(COMPONENT, None if TABLE is None else TABLE.get(COMPONENT)), file=sys.stderr)
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(1)


def fail_run(message):
    """cli.Run after logs are initialised: klog's "command failed"; exit 1."""
    klog.error("run.go:72", "command failed", err=message)
    sys.exit(1)


def parse(argv):
    """Parse a Kubernetes component's command line (pflag) or fail as the real one does."""
    table = None if TABLE is None else TABLE.get(COMPONENT)
    try:
        values, positional = kflags.parse_pflag(argv, table)
    except kflags.FlagError as exc:
        if COMPONENT == "kubelet":
            fail_run(f"failed to parse kubelet flag: {exc}")
        fail_usage(str(exc))
    if "help" in values:
        print(kflags.usage(COMPONENT, table))
        sys.exit(0)
    if "version" in values and kflags.last(values, "version") not in ("false",):
        print(f"Kubernetes {VERSION}")
        sys.exit(0)
    if positional:
        if COMPONENT == "kubelet":
            fail_run(f"unknown command {positional[0]!r}")
        fail_usage(f"{COMPONENT} does not take any arguments, got {positional!r}".replace("'", '"'))
    klog.set_verbosity(kflags.last(values, "v", "0"))
    return values


def need_file(flag, path):
    """Fail with the real open error naming the file a flag points at."""
    if path and not os.path.exists(path):
        fail_run(f"open {path}: no such file or directory")


def wait_forever(stop=None):
    """Run until SIGTERM/SIGINT (systemd's stop); ``stop`` is called first."""
    done = threading.Event()

    def handler(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    done.wait()
    if stop is not None:
        stop()
    sys.exit(0)

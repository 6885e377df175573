"""The profile: one TOML file, overlaid by the seed's environment variables.

Found by ``--profile PATH``, then ``$WORKBENCH_PROFILE``, then ``./workbench.toml``, then
``<XDG config>/workbench/profile.toml``. Every bad value is a ``ProfileError`` naming the
file, the field and what is expected. Cloud credentials are not here: they come from
clouds.yaml / ``OS_CLOUD`` / ``OS_*`` through openstacksdk's own loader.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from platformdirs import user_config_path, user_state_path

from workbench.errors import ProfileError

ENV_SOURCE = "environment"


@dataclass(frozen=True)
class CloudSection:
    name: str | None = None  # a clouds.yaml entry; None: OS_CLOUD / OS_* variables
    region: str | None = None
    clouds_yaml: Path | None = None  # an explicit clouds.yaml; default: openstacksdk's search


@dataclass(frozen=True)
class ClusterSection:
    name: str = "kubernetes"
    minions: int = 1
    image: str = ""
    flavor: str = ""
    keypair: str = ""
    network: str = ""
    floating_ip_pool: str = ""
    master_ip: str = "192.168.0.2"
    node_ip_base: str = "192.168.0."
    mgmt_interface: str = "eth0"
    # offered by the doctor when Nova finds no host for ``flavor`` (a capacity fault)
    fallback_flavors: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()


@dataclass(frozen=True)
class SSHSection:
    user: str = "fedora"
    private_key: Path | None = None
    port: int = 22
    connect_timeout: float = 20.0
    use_ssh_config: bool = True
    use_agent: bool = True


@dataclass(frozen=True)
class KubeSection:
    root: Path | None = None
    build_command: str = "build/release.sh"
    platforms: tuple[str, ...] = ("linux/amd64",)
    run_tests: bool = False
    fastbuild: bool = True
    # cluster parameters the workbench's own Salt tree provisions (engine/provision); the
    # Kubernetes version is never set here: it is read from the build's release tars
    service_cidr: str = "10.0.0.0/16"
    pod_cidr: str = "10.244.0.0/16"  # each node gets a /24 of it
    dns_ip: str = ""  # default: the tenth address of service_cidr, as kubeadm picks
    dns_domain: str = "cluster.local"
    container_runtime_endpoint: str = "unix:///run/containerd/containerd.sock"
    pod_network: str = "bridge"  # bridge: CNI bridge + routes per node; none: bring your own
    extra_flags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # component -> flags
    addons: tuple[str, ...] = ("coredns",)  # applied on the master after the control plane
    # standard: the API server and kubelet on every address, etcd and the controllers on
    # loopback; node-ip: every component on its node's own address only (nodes that share
    # one network stack, like the sandbox's, would otherwise collide on their ports)
    listen: str = "standard"


@dataclass(frozen=True)
class PathsSection:
    """Where things live on a node: the real paths of a provisioned node, not a profile
    setting (a ``[paths]`` table is refused). Tests against a plain sshd may replace them."""

    known_tokens: str = "/srv/kubernetes/known_tokens.csv"
    kubelet_kubeconfig: str = "/var/lib/kubelet/kubeconfig"
    release_dir: str = "/srv/kube-release"
    salt_tree: str = "/srv/salt"
    sshd_config: str = "/etc/ssh/sshd_config"
    kube_ca: str = "/srv/kubernetes/ca.crt"


@dataclass(frozen=True)
class PushSection:
    include_tars: bool = True
    include_salt: bool = True
    extra: tuple[str, ...] = ()  # more paths under KUBE_ROOT to push
    relay: bool = True
    fsync: bool = False  # fsync each file before its rename (durable on power loss; rsync doesn't)
    # "full": CRC-32 of every byte a node writes + sha256 of the bytes that travelled; "delta": the latter (docs/push.md)
    verify: str = "full"
    # swap files in with renameat2(RENAME_EXCHANGE) instead of renaming over them: spares ext4
    # a forced writeback mid-push where the temp file could not be preallocated (docs/push.md)
    swap: bool = False


@dataclass(frozen=True)
class SaltSection:
    """How states run: "masterless" (``salt-call --local`` on each node over its own SSH
    connection), "master" (salt-master on the master, one job over one connection), or
    "auto": master mode from ``master_from_nodes`` nodes up (engine/salt_master/mode.py)."""

    mode: str = "auto"
    master_from_nodes: int = 50
    publish_port: int = 4505
    ret_port: int = 4506
    job_timeout: float = 900.0  # a minion that has not returned by then is named
    ping_timeout: float = 5.0


@dataclass(frozen=True)
class UISection:
    theme: str = "workbench-dark"


@dataclass(frozen=True)
class Profile:
    path: Path | None = None
    state_dir: Path | None = None  # default: <XDG state>/workbench/<cluster name>
    sandbox: bool = False  # written by the sandbox: the cloud is the embedded one
    cloud: CloudSection = field(default_factory=CloudSection)
    cluster: ClusterSection = field(default_factory=ClusterSection)
    ssh: SSHSection = field(default_factory=SSHSection)
    kube: KubeSection = field(default_factory=KubeSection)
    paths: PathsSection = field(default_factory=PathsSection)
    push: PushSection = field(default_factory=PushSection)
    salt: SaltSection = field(default_factory=SaltSection)
    ui: UISection = field(default_factory=UISection)
    keymap: Mapping[str, str] = field(default_factory=dict)

    # -- derived -------------------------------------------------------------------
    @property
    def master_name(self) -> str:
        return f"{self.cluster.name}-master"

    def minion_name(self, index: int) -> str:
        """Minion ``index`` (0-based) is named ``<cluster>-minion-<index+1>``."""
        return f"{self.cluster.name}-minion-{index + 1}"

    def minion_ip(self, index: int) -> str:
        """Minion ``index`` (0-based) gets ``node_ip_base + (index + 3)``, as Vagrant did."""
        return f"{self.cluster.node_ip_base}{index + 3}"

    def node_plan(self) -> list[tuple[str, str, str]]:
        """(name, role, fixed ip) for the master and every minion."""
        plan = [(self.master_name, "master", self.cluster.master_ip)]
        plan += [
            (self.minion_name(i), "minion", self.minion_ip(i)) for i in range(self.cluster.minions)
        ]
        return plan

    def resolved_state_dir(self) -> Path:
        if self.state_dir is not None:
            return self.state_dir
        return user_state_path("workbench") / self.cluster.name


# -- loading ------------------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "cloud": CloudSection,
    "cluster": ClusterSection,
    "ssh": SSHSection,
    "kube": KubeSection,
    "push": PushSection,
    "salt": SaltSection,
    "ui": UISection,
}

_ENV_OVERLAY: dict[str, tuple[str, str]] = {
    "MASTER_IP": ("cluster", "master_ip"),
    "NODE_IP_BASE": ("cluster", "node_ip_base"),
    "NUM_MINIONS": ("cluster", "minions"),
    "NUM_NODES": ("cluster", "minions"),
    "OS_FLAVOR": ("cluster", "flavor"),
    "FLAVOR": ("cluster", "flavor"),
    "OS_IMAGE_ID": ("cluster", "image"),
    "IMAGE_ID": ("cluster", "image"),
    "OS_KEYPAIR": ("cluster", "keypair"),
    "KEYPAIR": ("cluster", "keypair"),
    "OS_MGMT_NETWORK": ("cluster", "network"),
    "OS_FLOATINGIP_POOL": ("cluster", "floating_ip_pool"),
    "MGMT_INTERFACE": ("cluster", "mgmt_interface"),
    "KUBE_ROOT": ("kube", "root"),
    # kube-up's cluster parameters (cluster/*/config-default.sh)
    "SERVICE_CLUSTER_IP_RANGE": ("kube", "service_cidr"),
    "CLUSTER_IP_RANGE": ("kube", "pod_cidr"),
    "DNS_SERVER_IP": ("kube", "dns_ip"),
    "DNS_DOMAIN": ("kube", "dns_domain"),
}

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$")


def profile_search_places() -> list[str]:
    """Where ``find_profile_path`` looks, in order, for messages about a missing profile."""
    return ["--profile", "$WORKBENCH_PROFILE", "./workbench.toml", str(user_config_path("workbench") / "profile.toml")]


def find_profile_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The profile file to use, or None when there is none anywhere."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("WORKBENCH_PROFILE")
    if env:
        return Path(env)
    local = Path("workbench.toml")
    if local.is_file():
        return local
    xdg = user_config_path("workbench") / "profile.toml"
    if xdg.is_file():
        return xdg
    return None


def load_profile(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Profile:
    """Load and validate a profile; ``path=None`` searches the usual places."""
    env = os.environ if environ is None else environ
    found = find_profile_path(path)
    data: dict[str, Any] = {}
    if found is not None:
        data = _read_toml(found)
    try:
        return profile_from_mapping(data, found, env)
    except UnknownKey as exc:
        raise exc.at_line(found) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(path, "(file)", "no such file") from None
    except OSError as exc:
        raise ProfileError(path, "(file)", f"cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProfileError(path, "(file)", "a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, "(syntax)", f"valid TOML ({exc})") from None


def profile_from_mapping(
    data: Mapping[str, Any], path: Path | None, environ: Mapping[str, str] | None = None
) -> Profile:
    where: object = path if path is not None else "(no profile)"
    base = Path(path).parent if path is not None else Path.cwd()
    known = {*_SECTIONS, "keymap", "state_dir", "sandbox"}
    for key in data:
        if key == "paths":
            raise ProfileError(where, "paths", "no [paths] table: paths on nodes are the real "
                               "ones (/srv/kubernetes/known_tokens.csv, /var/lib/kubelet/kubeconfig, ...)")
        if key not in known:
            raise UnknownKey(where, None, key, sorted(known))
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ProfileError(where, name, "a table")
        sections[name] = _section(cls, table, where, name, base)
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in keymap.items()
    ):
        raise ProfileError(where, "keymap", "a table of binding id = \"key[,key]\" strings")
    state_dir = data.get("state_dir")
    if state_dir is not None and not isinstance(state_dir, str):
        raise ProfileError(where, "state_dir", "a path string")
    sandbox = data.get("sandbox", False)
    if not isinstance(sandbox, bool):
        raise ProfileError(where, "sandbox", "true or false")
    profile = Profile(
        path=path,
        state_dir=_path(state_dir, base) if state_dir else None,
        sandbox=sandbox,
        keymap=dict(keymap),
        **sections,
    )
    if environ:
        profile = _overlay_env(profile, environ)
    _validate(profile, where)
    return profile


class UnknownKey(ProfileError):
    """``profile.toml:7: cluster.minon: unknown key; did you mean 'minions'? (known: ...)``"""

    def __init__(self, where: object, section: str | None, key: str, known: list[str]) -> None:
        self.section, self.key, self.known = section, key, known
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        super().__init__(where, f"{section}.{key}" if section else key,
                         f"unknown key{hint} (known: {', '.join(known)})")

    def at_line(self, path: Path | None) -> ProfileError:
        """The same error, its place given as ``file:line`` when the line can be found."""
        line = _line_of(path, self.section, self.key) if path is not None else None
        if line is None:
            return self
        return UnknownKey(f"{path}:{line}", self.section, self.key, self.known)


def _line_of(path: Path, section: str | None, key: str) -> int | None:
    """The line where ``key`` is set inside ``[section]`` (or at the top), 1-based."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    current: str | None = None
    pattern = re.compile(rf"""^\s*["']?{re.escape(key)}["']?\s*=""")
    for number, text in enumerate(lines, 1):
        header = re.match(r"^\s*\[\s*([^\]\s]+)\s*\]", text)
        if header:
            current = header.group(1)
            if section is None and current == key:
                return number  # an unknown table
            continue
        if current == section and pattern.match(text):
            return number
    return None


def no_profile_hint() -> str:
    """What to do when there is no profile and no cloud in the environment."""
    return ("run `workbench --sandbox` to try the workbench on its embedded cloud, or write a profile "
            f"at {user_config_path('workbench') / 'profile.toml'} ([cloud] name = a clouds.yaml entry; "
            "see README, Profile)")


def clouds_found(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> list[tuple[str, Path]]:
    """(cloud name, clouds.yaml) for every cloud in the files openstacksdk reads, in its order."""
    import yaml

    env = os.environ if environ is None else environ
    if explicit is not None:
        files = [Path(explicit)]
    else:
        files = [Path(env["OS_CLIENT_CONFIG_FILE"])] if env.get("OS_CLIENT_CONFIG_FILE") else []
        files += [Path.cwd() / "clouds.yaml", Path.home() / ".config" / "openstack" / "clouds.yaml",
                  Path("/etc/openstack/clouds.yaml")]
    found: list[tuple[str, Path]] = []
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        clouds = data.get("clouds") if isinstance(data, dict) else None
        if isinstance(clouds, dict):
            found += [(str(name), file) for name in clouds]
    return found


def _section(cls: type, table: Mapping[str, Any], where: object, name: str, base: Path) -> Any:
    kwargs: dict[str, Any] = {}
    by_name = {f.name: f for f in fields(cls)}
    for key, value in table.items():
        f = by_name.get(key)
        if f is None:
            raise UnknownKey(where, name, key, list(by_name))
        kwargs[key] = _coerce(value, f.type, where, f"{name}.{key}", base)
    return cls(**kwargs)


def _coerce(value: Any, type_name: Any, where: object, field_name: str, base: Path) -> Any:
    t = str(type_name)
    if t == "bool":
        if not isinstance(value, bool):
            raise ProfileError(where, field_name, "true or false")
        return value
    if t == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(where, field_name, "a whole number")
        return value
    if t == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ProfileError(where, field_name, "a number")
        return float(value)
    if t == "str":
        if not isinstance(value, str):
            raise ProfileError(where, field_name, "a string")
        return value
    if t == "str | None":
        if value is not None and not isinstance(value, str):
            raise ProfileError(where, field_name, "a string")
        return value
    if t == "Path | None":
        if not isinstance(value, str) or not value:
            raise ProfileError(where, field_name, "a path string")
        return _path(value, base)
    if t == "Mapping[str, tuple[str, ...]]":
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()
        ):
            raise ProfileError(where, field_name, "a table of component = [\"--flag=value\", ...]")
        return {str(k): tuple(v) for k, v in value.items()}
    if t == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ProfileError(where, field_name, "a list of strings")
        return tuple(value)
    raise AssertionError(f"unhandled profile type {t}")  # pragma: no cover


def _path(value: str, base: Path) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(value)))
    return p if p.is_absolute() else (base / p)


def _overlay_env(profile: Profile, environ: Mapping[str, str]) -> Profile:
    for var, (section, key) in _ENV_OVERLAY.items():
        value = environ.get(var)
        if value is None or value == "":
            continue
        where = f"{ENV_SOURCE} {var}"
        current = getattr(profile, section)
        f = next(f for f in fields(current) if f.name == key)
        coerced: Any
        if str(f.type) == "int":
            try:
                coerced = int(value)
            except ValueError:
                raise ProfileError(where, f"{section}.{key}", "a whole number") from None
        elif str(f.type) == "Path | None":
            coerced = _path(value, Path.cwd())
        else:
            coerced = value
        profile = replace(profile, **{section: replace(current, **{key: coerced})})
    return profile


def _validate(profile: Profile, where: object) -> None:
    c = profile.cluster
    if not _NAME.match(c.name):
        raise ProfileError(where, "cluster.name", "lowercase letters, digits and dashes")
    if not 0 <= c.minions <= 250:
        raise ProfileError(where, "cluster.minions", "a number from 0 to 250")
    try:
        ipaddress.IPv4Address(c.master_ip)
    except ValueError:
        raise ProfileError(where, "cluster.master_ip", "an IPv4 address") from None
    base = c.node_ip_base
    if not base.endswith(".") or base.count(".") != 3:
        raise ProfileError(where, "cluster.node_ip_base", "three octets and a dot, like 192.168.0.")
    try:
        ipaddress.IPv4Address(base + "0")
        if c.minions:
            ipaddress.IPv4Address(profile.minion_ip(c.minions - 1))
    except ValueError:
        raise ProfileError(
            where, "cluster.node_ip_base", f"three octets with room for {c.minions} minions from .3"
        ) from None
    if c.master_ip in {profile.minion_ip(i) for i in range(c.minions)}:
        raise ProfileError(where, "cluster.master_ip", "an address no minion uses (.3 and up)")
    if not 1 <= profile.ssh.port <= 65535:
        raise ProfileError(where, "ssh.port", "a port from 1 to 65535")
    if profile.ssh.connect_timeout <= 0:
        raise ProfileError(where, "ssh.connect_timeout", "a positive number of seconds")
    for platform in profile.kube.platforms:
        if not re.match(r"^[a-z0-9]+/[a-z0-9]+$", platform):
            raise ProfileError(where, "kube.platforms", "entries like linux/amd64")
    _validate_kube(profile.kube, where)
    if profile.push.verify not in ("full", "delta"):
        raise ProfileError(where, "push.verify", '"full" or "delta"')
    if profile.salt.mode not in ("auto", "masterless", "master"):
        raise ProfileError(where, "salt.mode", '"auto", "masterless" or "master"')
    if profile.salt.master_from_nodes < 1:
        raise ProfileError(where, "salt.master_from_nodes", "a whole number from 1 up")
    for key in ("publish_port", "ret_port"):
        if not 1 <= getattr(profile.salt, key) <= 65535:
            raise ProfileError(where, f"salt.{key}", "a port from 1 to 65535")
    if profile.salt.job_timeout <= 0 or profile.salt.ping_timeout <= 0:
        raise ProfileError(where, "salt.job_timeout" if profile.salt.job_timeout <= 0 else "salt.ping_timeout",
                           "a positive number of seconds")


KUBE_COMPONENTS = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy",
)
_FLAG = re.compile(r"^--[a-z0-9][a-z0-9-]*(=[^\s]*)?$")


def _validate_kube(kube: KubeSection, where: object) -> None:
    """The cluster parameters: networks that parse and do not overlap, flags that look like flags."""
    nets: dict[str, ipaddress.IPv4Network] = {}
    for name in ("service_cidr", "pod_cidr"):
        try:
            nets[name] = ipaddress.IPv4Network(getattr(kube, name))
        except ValueError:
            raise ProfileError(where, f"kube.{name}", "an IPv4 network like 10.0.0.0/16") from None
    if nets["service_cidr"].prefixlen > 28:
        raise ProfileError(where, "kube.service_cidr", "a network of at least 16 addresses (/28)")
    if nets["pod_cidr"].prefixlen > 22:
        raise ProfileError(where, "kube.pod_cidr", "a network of at least four /24s (/22 or wider)")
    if nets["service_cidr"].overlaps(nets["pod_cidr"]):
        raise ProfileError(where, "kube.pod_cidr", f"a network apart from service_cidr {nets['service_cidr']}")
    if kube.dns_ip:
        try:
            dns = ipaddress.IPv4Address(kube.dns_ip)
        except ValueError:
            raise ProfileError(where, "kube.dns_ip", "an IPv4 address") from None
        if dns not in nets["service_cidr"] or dns == nets["service_cidr"].network_address + 1:
            raise ProfileError(where, "kube.dns_ip", f"an address in service_cidr {nets['service_cidr']} other than its first")
    if not re.match(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$", kube.dns_domain):
        raise ProfileError(where, "kube.dns_domain", "a DNS domain like cluster.local")
    if not re.match(r"^(unix|npipe|tcp)://\S+$", kube.container_runtime_endpoint):
        raise ProfileError(where, "kube.container_runtime_endpoint", "an endpoint like unix:///run/containerd/containerd.sock")
    if kube.listen not in ("standard", "node-ip"):
        raise ProfileError(where, "kube.listen", '"standard" or "node-ip"')
    if kube.pod_network not in ("bridge", "none"):
        raise ProfileError(where, "kube.pod_network", '"bridge" or "none"')
    for addon in kube.addons:
        if addon not in ("coredns",):
            raise ProfileError(where, "kube.addons", f'a list of "coredns" ({addon!r} is unknown)')
    for component, flags in kube.extra_flags.items():
        if component not in KUBE_COMPONENTS:
            raise ProfileError(where, f"kube.extra_flags.{component}", f"one of {', '.join(KUBE_COMPONENTS)}")
        for flag in flags:
            if not _FLAG.match(flag):
                raise ProfileError(where, f"kube.extra_flags.{component}", f"flags like --name=value ({flag!r} is not)")

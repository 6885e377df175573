"""What `systemctl ARGS` answers, computed in the node's init (stdlib only).

Formats follow systemd 252 (Debian 12's), what Salt's systemd module parses:
``--version``, ``is-active``, ``is-enabled``, ``show [-p X] [-P X]``, ``status``,
``list-unit-files``, and start/stop/restart/try-restart/reload/enable/disable/daemon-reload.
"""

from __future__ import annotations

import contextlib
import os
import time

import units as unitfiles
from supervisor import State, Supervisor

VERSION = ("systemd 252 (252.30-1~deb12u2)\n"
           "+PAM +AUDIT +SELINUX +APPARMOR +IMA +SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL "
           "+BLKID +CURL +ELFUTILS +FIDO2 +IDN2 -IDN +IPTC +KMOD +LIBCRYPTSETUP +LIBFDISK +PCRE2 "
           "-PWQUALITY +P11KIT +QRENCODE +TPM2 +BZIP2 +LZ4 +XZ +ZLIB +ZSTD -BPF_FRAMEWORK "
           "-XKBCOMMON +UTMP +SYSVINIT default-hierarchy=unified\n")
USAGE = "systemctl [OPTIONS...] COMMAND ...\n"
Answer = tuple[str, str, int]


def _stamp(t: float) -> str:
    return time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _props(sup: Supervisor, st: State) -> dict[str, str]:
    loaded = "loaded" if sup.known(st.name) else "not-found"
    return {
        "Type": st.file.type if st.file else "simple",
        "Restart": st.file.restart if st.file else "no",
        "MainPID": str(st.pid),
        "Result": st.result,
        "ExecMainStatus": str(st.exit_status),
        "Id": st.name,
        "Names": st.name,
        "Description": st.description,
        "LoadState": loaded,
        "ActiveState": st.active,
        "SubState": st.sub,
        "FragmentPath": st.file.path if st.file else "",
        "UnitFileState": sup.enabled(st.name) if loaded == "loaded" else "",
        "ActiveEnterTimestamp": _stamp(st.since) if st.active == "active" else "",
        "NeedDaemonReload": "yes" if sup.need_reload(st) else "no",
        "NRestarts": str(st.restarts),
        "NotifyAccess": (st.file.notify_access or ("main" if st.file.type == "notify" else "none"))
        if st.file else "none",
        "StatusText": st.status_text,
        "DropInPaths": " ".join(st.file.drop_ins) if st.file else "",
        "Environment": " ".join(f"{k}={v}" for k, v in st.file.environment.items()) if st.file else "",
        "ExecStart": "; ".join(" ".join(argv) for argv in st.file.exec_start) if st.file else "",
    }


def _status(sup: Supervisor, st: State, lines: int) -> Answer:
    if not sup.known(st.name):
        return "", f"Unit {st.name} could not be found.\n", 4
    enabled = sup.enabled(st.name)
    path = st.file.path if st.file else f"/usr/lib/systemd/system/{st.name}"
    dot = "\u25cf" if st.active in ("active", "failed") else "\u25cb"
    state = {"active": f"active ({st.sub})", "failed": f"failed (Result: {st.result})",
             "activating": f"activating ({st.sub})"}.get(st.active, "inactive (dead)")
    out = [f"{dot} {st.name} - {st.description}",
           f"     Loaded: loaded ({path}; {enabled}; preset: disabled)"]
    folders: dict[str, list[str]] = {}
    for drop_in in st.file.drop_ins if st.file else []:
        folder, _, name = drop_in.rpartition("/")
        folders.setdefault(folder, []).append(name)
    for i, (folder, names) in enumerate(folders.items()):
        out.append(f"    {'Drop-In' if i == 0 else '       '}: {folder}")
        out.append(f"             \u2514\u2500{', '.join(names)}")
    if sup.need_reload(st):
        out.append(f"    Warning: The unit file, source configuration file or drop-ins of {st.name} "
                   "changed on disk. Run 'systemctl daemon-reload' to reload units.")
    out.append(f"     Active: {state} since {_stamp(st.since)}")
    if st.status_text:
        out.append(f"     Status: \"{st.status_text}\"")
    if st.pid:
        out.append(f"   Main PID: {st.pid} ({(st.file.exec_start[0][0] if st.file else st.name).rsplit('/', 1)[-1]})")
    if lines:
        tail = _journal_tail(st.name, lines)
        if tail:
            out += ["", *tail]
    return "\n".join(out) + "\n", "", {"active": 0, "failed": 3}.get(st.active, 3)


def _journal_tail(name: str, lines: int) -> list[str]:
    path = os.path.join(unitfiles.JOURNAL_DIR, name.removesuffix(".service") + ".log")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read().splitlines()[-lines:]
    except OSError:
        return []
    return [line.split(" ", 1)[1] if " " in line else line for line in text]


def _list_unit_files(sup: Supervisor) -> Answer:
    names: set[str] = set()
    for folder in unitfiles.UNIT_DIRS:
        with contextlib.suppress(OSError):
            names |= {n for n in os.listdir(folder) if n.endswith((".service", ".target", ".timer"))}
    rows = [f"{n} {sup.enabled(n) or 'static'} disabled" for n in sorted(names)]
    return "\n".join(rows) + ("\n" if rows else ""), "", 0


async def answer(sup: Supervisor, argv: list[str]) -> Answer:
    """Run one systemctl command line in the supervisor."""
    if "--version" in argv:
        return VERSION, "", 0
    quiet = "-q" in argv or "--quiet" in argv
    props: list[str] = []
    value_only = False
    lines = 10
    args: list[str] = []
    it = iter(range(len(argv)))
    for i in it:
        arg = argv[i]
        if arg in ("-p", "--property", "-P") and i + 1 < len(argv):
            props += argv[i + 1].split(",")
            value_only = value_only or arg == "-P"
            next(it, None)
        elif arg.startswith("--property="):
            props += arg.split("=", 1)[1].split(",")
        elif arg in ("-n", "--lines") and i + 1 < len(argv):
            lines = int(argv[i + 1]) if argv[i + 1].isdigit() else 10
            next(it, None)
        elif arg.startswith("--lines="):
            lines = int(arg.split("=", 1)[1] or 10)
        elif arg == "--value":
            value_only = True
        elif arg in ("--root",) and i + 1 < len(argv):
            next(it, None)
        elif not arg.startswith("-"):
            args.append(arg)
    if not args:
        return "", f"Too few arguments.\n{USAGE}", 1
    verb, names = args[0], [unitfiles.canonical(n) for n in args[1:]]
    if verb == "daemon-reload":
        sup.reload()
        return "", "", 0
    if verb == "list-unit-files":
        return _list_unit_files(sup)
    if verb in ("is-system-running",):
        return "running\n", "", 0
    if not names:
        return "", f"Too few arguments.\n{USAGE}", 1
    out: list[str] = []
    err: list[str] = []
    status = 0
    for name in names:
        st = sup.state(name)
        if verb == "is-active":
            word = st.active if sup.known(name) else "inactive"
            out.append(word)
            status = status or (0 if word == "active" else 3)
        elif verb == "is-failed":
            out.append(st.active)
            status = status or (0 if st.active == "failed" else 1)
        elif verb == "is-enabled":
            word = sup.enabled(name)
            if not word:
                err.append(f"Failed to get unit file state for {name}: No such file or directory")
                status = 1
                continue
            out.append(word)
            status = status or (0 if word in ("enabled", "static") else 1)
        elif verb == "show":
            values = _props(sup, st)
            keys = props or list(values)
            for key in keys:
                value = values.get(key, "")
                out.append(value if value_only else f"{key}={value}")
        elif verb == "status":
            text, e, code = _status(sup, st, lines)
            out.append(text.rstrip("\n")) if text else err.append(e.rstrip("\n"))
            status = status or code
        elif verb in ("enable", "disable"):
            if not sup.known(name):
                err.append(f"Failed to {verb} unit: Unit file {name} does not exist.")
                status = 1
                continue
            err += sup.enable(name, verb == "enable")
            if "--now" in argv:
                why = await (sup.start(name) if verb == "enable" else sup.stop(name))
                if why:
                    status = 1
        elif verb in ("start", "restart", "reload", "try-restart", "reload-or-restart", "stop"):
            if not sup.known(name):
                err.append(f"Failed to {verb} {name}: Unit {name} not found.")
                status = 5
                continue
            if verb == "stop":
                await sup.stop(name)
                continue
            if verb == "try-restart" and st.active != "active":
                continue
            why = await (sup.start(name) if verb == "start" else sup.restart(name))
            if why:
                err.append(f"Job for {name} failed because the control process exited with error code.\n"
                           f"See \"systemctl status {name}\" and \"journalctl -xeu {name}\" for details.")
                status = 1
        else:
            return "", f"Unknown command verb {verb}.\n", 1
    text = "\n".join(out) + "\n" if out and not quiet else ""
    return text, "\n".join(err) + ("\n" if err else ""), status

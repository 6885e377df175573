"""`salt-call` on a sandbox node: state.highstate / state.apply / state.sls, test.ping.

Exit status: 0 when every state succeeded; 1 on a failed state or a compile error
(2 for failed states with --retcode-passthrough, as Salt's EX_STATE_FAILURE);
2 for a usage error.
"""

from __future__ import annotations

import ast
import json
import sys
import time

import nodelib
import saltout
import saltpillar
import saltstates

HOST = "local"
NO_TOP = "No Top file or master_tops data matches found. Please see master log for details."


def _pillar(value: str) -> dict:
    try:
        data = json.loads(value)
    except ValueError:
        try:
            data = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            data = None
    if not isinstance(data, dict):
        raise ValueError("Pillar data must be formatted as a dictionary, unless pillar_enc is specified.")
    return data


def _parse(argv: list[str]) -> tuple[dict, list[str], dict]:
    opts: dict = {"out": "highstate", "passthrough": False, "pillar_root": []}
    positional: list[str] = []
    kwargs: dict = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--local", "--no-color", "--force-color", "-q", "--quiet"):
            pass
        elif arg == "--retcode-passthrough":
            opts["passthrough"] = True
        elif arg.startswith("--out="):
            opts["out"] = arg.split("=", 1)[1]
        elif arg.startswith("--pillar-root="):
            opts["pillar_root"].append(arg.split("=", 1)[1])
        elif arg in ("--out", "-l", "--log-level", "--state-output", "-c", "--config-dir", "--pillar-root"):
            if i + 1 >= len(argv):
                raise SystemExit(f"salt-call: error: {arg} option requires 1 argument")
            if arg == "--out":
                opts["out"] = argv[i + 1]
            elif arg == "--pillar-root":
                opts["pillar_root"].append(argv[i + 1])
            i += 1
        elif arg.startswith(("--log-level=", "--state-output=", "--state_output=", "-l")):
            pass
        elif arg.startswith("-"):
            raise SystemExit(f"salt-call: error: no such option: {arg}")
        elif "=" in arg and positional:
            key, value = arg.split("=", 1)
            kwargs[key] = value
        else:
            positional.append(arg)
        i += 1
    return opts, positional, kwargs


def _run_states(fun: str, sls_args: list[str], pillar: dict) -> dict | list:
    facts = nodelib.node()
    role = "master" if facts.get("role") == "master" else "minion"
    if not (nodelib.ROOT / "srv" / "salt" / "top.sls").is_file():
        return {"no_|-states_|-states_|-None": {
            "result": False, "comment": NO_TOP, "name": "states", "__id__": "states",
            "changes": {}, "__run_num__": 0,
        }}
    race = nodelib.fault_on("salt-race") and not (nodelib.RUN / "salt-race.fired").exists()
    if race:
        nodelib.write_atomic(nodelib.RUN / "salt-race.fired", "1\n")
        print("[ERROR   ] The Salt Minion service is not running", file=sys.stderr)
    regen = role == "master" and nodelib.fault_on("token-regen")
    changed: set[str] = set()
    states = saltstates.plan(role, pillar, race, regen, changed)
    wanted = set(sls_args)
    if fun != "state.highstate" and wanted:
        known = {s.sls for s in states}
        missing = sorted(wanted - known)
        if missing:
            return [f"No matching sls found for '{name}' in env 'base'" for name in missing]
        states = [s for s in states if s.sls in wanted]
    delay = float(nodelib.settings().get("salt", 0.0)) / max(len(states), 1)
    results: dict = {}
    failed: set[str] = set()
    for num, state in enumerate(states):
        started = time.time()
        time.sleep(delay)
        bad = [req for req in state.require if req in failed]
        if bad:
            by_id = {s.id: s for s in states}
            names = ", ".join(f"{by_id[r].sls}.{r}" for r in bad)
            ok, comment, changes = False, f"One or more requisite failed: {names}", {}
        else:
            ok, comment, changes = state.run()
        if not ok:
            failed.add(state.id)
        if changes:
            changed.add(state.id)
        results[state.key] = {
            "result": ok, "comment": comment, "name": state.id, "__id__": state.id,
            "__sls__": state.sls, "changes": changes, "__run_num__": num,
            "start_time": time.strftime("%H:%M:%S", time.localtime(started)) + f".{int(started % 1 * 1e6):06d}",
            "duration": round((time.time() - started) * 1000, 3),
        }
    return results


def main(argv: list[str]) -> int:
    try:
        opts, positional, kwargs = _parse(argv)
    except SystemExit as exc:
        print("Usage: salt-call [options] <function> [arguments]", file=sys.stderr)
        print(exc, file=sys.stderr)
        return 2
    if not positional:
        print("Usage: salt-call [options] <function> [arguments]\n\nsalt-call: error: Requires function", file=sys.stderr)
        return 2
    fun, args = positional[0], positional[1:]
    if fun == "test.ping":
        print(json.dumps({HOST: True}) if opts["out"] == "json" else f"{HOST}:\n    True")
        return 0
    if fun not in ("state.highstate", "state.apply", "state.sls"):
        print(f"'{fun}' is not available.", file=sys.stderr)
        return 1
    try:
        # pillar_roots first (top.sls and the files it names), then pillar= on the command line
        pillar = saltpillar.compile_pillar(opts["pillar_root"])
        pillar.update(_pillar(kwargs["pillar"]) if "pillar" in kwargs else {})
    except (ValueError, OSError) as exc:
        print(f"Error running '{fun}': {exc}", file=sys.stderr)
        return 1
    sls_args = [name for a in args for name in a.split(",") if name]
    data = _run_states(fun, sls_args, pillar)
    if opts["out"] == "json":
        print(saltout.as_json(HOST, data))
    else:
        print(saltout.highstate(HOST, data))
    if isinstance(data, list):
        return 1
    if any(ret["result"] is False for ret in data.values()):
        return 2 if opts["passthrough"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

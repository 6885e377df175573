"""kubectl from the release tar: `version --client` answers with the build's version; any
other command runs the machine's real kubectl when one is installed (this fake build can
not ship a client of its own), else it says so."""

import json
import os
import shutil
import sys

import runtime


def main(argv):
    if argv[:1] == ["version"] and "--client" in argv:
        info = runtime.version_info()
        if "-o" in argv and "json" in argv:
            print(json.dumps({"clientVersion": info}, indent=2))
        else:
            print(f"Client Version: {info['gitVersion']}")
        return
    me = os.path.realpath(sys.argv[0])
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if os.path.realpath(os.path.join(p, "kubectl")) != me)
    real = shutil.which("kubectl", path=path)
    if real is None:
        print("error: this sandbox kubectl runs the machine's kubectl, and none is installed", file=sys.stderr)
        sys.exit(1)
    os.execv(real, [real, *argv])

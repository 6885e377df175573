"""`hostname [-s|-f|-I|-i]` on a sandbox node: the server's name and addresses."""

from __future__ import annotations

import sys

import nodelib


def main(argv: list[str]) -> int:
    facts = nodelib.node()
    name = str(facts.get("name") or (nodelib.ROOT / "etc/hostname").read_text().strip())
    if "-I" in argv or "--all-ip-addresses" in argv or "-i" in argv:
        print(" ".join(facts.get("addresses", [])))
    elif argv and not argv[0].startswith("-"):
        print("hostname: you must be root to change the host name", file=sys.stderr)
        return 1
    else:
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

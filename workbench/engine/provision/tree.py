"""Which Salt tree a push sends: kube-up's from KUBE_ROOT while it has one, else the workbench's."""

from __future__ import annotations

from pathlib import Path

#: The workbench's own tree for current Kubernetes, shipped in the package.
PACKAGED_TREE = Path(__file__).resolve().parent / "salt"
SEED_TREE = Path("cluster") / "saltbase" / "salt"


def salt_tree(kube_root: Path) -> Path:
    seed = Path(kube_root) / SEED_TREE
    return seed if seed.is_dir() else PACKAGED_TREE

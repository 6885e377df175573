"""known_tokens.csv layouts Kubernetes really wrote (tests/fixtures/real/tokens, SOURCES.md):
each kubeconfig user gets its own row or none; a privileged row is never written."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.engine.doctor.nodes import node_checks
from workbench.engine.kube.token_files import known_token_rows, kubeconfig_token, row_for_user
from workbench.engine.kube.tokens import fix_token, minion_row, token_alerts
from workbench.engine.parts import Parts
from workbench.errors import NodeError
from workbench.profile import load_profile

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "tokens"
ADMIN = "AdminBearerTok0000000000000000000"
KUBELET = "KubeletTok11111111111111111111111"


def rows(name: str):  # type: ignore[no-untyped-def]
    return known_token_rows((REAL / name).read_text())


@pytest.mark.parametrize("csv_name", ["saltbase-2015.csv", "gci-2017.csv", "kubemark-2017.csv"])
@pytest.mark.parametrize("kubeconfig", ["kubelet-kubeconfig-gce.yaml", "kubelet-kubeconfig-terraform.yaml"])
def test_the_kubelet_user_finds_its_own_row_in_every_layout(csv_name: str, kubeconfig: str) -> None:
    row, why = minion_row(rows(csv_name), (REAL / kubeconfig).read_text(), "kubernetes-minion-1", "kc")
    assert why is None and row is not None
    assert row.token == KUBELET and not row.privileged


def test_no_kubelet_row_is_said_and_nothing_else_is_chosen() -> None:
    table = rows("gci-2017-no-kubelet-row.csv")
    assert table[0].token == ADMIN and table[0].privileged  # admin comes first in this file
    row, why = minion_row(table, (REAL / "kubelet-kubeconfig-gce.yaml").read_text(), "kubernetes-minion-1", "kc")
    assert row is None
    assert why == ("known_tokens.csv has no row for the kubeconfig's user 'kubelet' (rows: admin (groups "
                   "system:masters), system:kube-controller-manager, system:kube-scheduler, system:kube-proxy)")


@pytest.mark.parametrize("csv_name", ["saltbase-2015.csv", "gci-2017.csv", "kubemark-2017.csv"])
def test_an_admin_kubeconfig_user_is_refused(csv_name: str) -> None:
    text = (REAL / "kubelet-kubeconfig-gce.yaml").read_text().replace("kubelet", "admin")
    row, why = minion_row(rows(csv_name), text, "kubernetes-minion-1", "kc")
    assert row is None and why is not None
    assert "'admin' is admin" in why and "never writes it into a node's kubeconfig" in why


def test_bootstrap_layout_groups_are_parsed_and_match_by_user() -> None:
    table = rows("bootstrap-2018.csv")
    assert table[0].groups == ("system:kubelet-bootstrap",) and table[0].uid == "10001"
    text = (REAL / "kubeconfig-bootstrap.yaml").read_text()
    assert kubeconfig_token(text) == "StaleBootstrapTok8888888888888888"
    row, why = minion_row(table, text, "node-1", "kc")
    assert why is None and row is table[0]
    # a kubelet user has no row here: the bootstrap token is not "the kubelet's"
    assert row_for_user(table, "kubelet", "node-1") is None


async def _layout(pool, profile, master, csv_name: str, kubelet_token: str) -> None:  # type: ignore[no-untyped-def]
    """Put a real layout on the master with the running kubelets' token in its kubelet row."""
    text = (REAL / csv_name).read_text().replace(KUBELET, kubelet_token)
    await pool.run(master, f"sudo tee {profile.paths.known_tokens} >/dev/null", input=text, check=True)


async def test_real_layouts_on_the_sandbox_fix_only_with_the_kubelet_row(seed_cluster) -> None:
    """On the seed-era cluster the engine brought up (kube-up's tree), the master's csv
    replaced by layouts Kubernetes really wrote; put back by a Salt run at the end."""
    from tests.seedcluster import restore

    c = seed_cluster
    parts = Parts(load_profile(c.profile_path, environ={}))
    try:
        nodes = await parts.active_instances()
        master = next(n for n in nodes if n.role == "master")
        minions = [n for n in nodes if n.role == "minion"]
        pool, profile = parts.ssh, parts.profile
        token = c.state.cluster_token()
        minion, path = minions[0], profile.paths.kubelet_kubeconfig
        stale = (await pool.run(minion, f"sudo cat {path}")).stdout.replace(token, "StaleKubeletTok99999999999999999")
        await pool.run(minion, f"sudo tee {path} >/dev/null", input=stale, check=True)

        # GCE 2017: admin (system:masters) first, the kubelet's row fourth
        await _layout(pool, profile, master, "gci-2017.csv", token)
        [alert] = [a for a in await token_alerts(pool, profile, master, minions) if a.kind == "token-mismatch"]
        assert alert.message.startswith(f"{minion.name}: kubelet token Stal****") and "(its row in known_tokens.csv)" in alert.message
        assert [f.name for f in alert.fixes] == ["write-token"]
        assert await alert.fixes[0].run() == f"{minion.name}: kubelet token replaced, kubelet restarted, node Ready"
        written = (await pool.run(minion, f"sudo cat {path}")).stdout
        assert kubeconfig_token(written) == token and ADMIN not in written

        # the same file without a kubelet row: said so, no write offered, the fix refuses too
        await pool.run(minion, f"sudo tee {path} >/dev/null", input=stale, check=True)
        await _layout(pool, profile, master, "gci-2017-no-kubelet-row.csv", token)
        alerts = [a for a in await node_checks(parts) if a.kind == "token-mismatch"]
        assert sorted(a.subject for a in alerts) == sorted(m.name for m in minions)  # no row for any kubelet
        [alert] = [a for a in alerts if a.subject == minion.name]
        assert "known_tokens.csv has no row for the kubeconfig's user 'kubelet'" in alert.message
        assert "no token is written" in alert.message and alert.fixes == ()
        with pytest.raises(NodeError, match=r"has no row for the kubeconfig's user 'kubelet'.*nothing written"):
            await fix_token(pool, profile, master, minion, deadline=2)
        after = (await pool.run(minion, f"sudo cat {path}")).stdout
        assert after == stale and ADMIN not in after
    finally:
        await parts.close()
        restore(c)


def test_a_node_identity_row_needs_its_group() -> None:
    rows_ok = known_token_rows("TokA,system:node:kubernetes-minion-1,uid:node1,system:nodes\n")
    rows_bad = known_token_rows("TokB,system:node:kubernetes-minion-1,uid:node1\n")
    assert row_for_user(rows_ok, "kubelet", "kubernetes-minion-1") is rows_ok[0]
    assert row_for_user(rows_bad, "kubelet", "kubernetes-minion-1") is None
    assert row_for_user(rows_ok, "kubelet", "kubernetes-minion-2") is None  # another node's row

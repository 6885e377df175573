"""Console parsing on cloud-init console text, and pinning per instance id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from workbench.engine.ssh.hostkeys import (
    ConsoleHostKeys,
    HostKeyTrust,
    fingerprints_of,
    parse_console_host_keys,
)
from workbench.state import StateDir

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH7hAN++1E9lMbEonm/UTRqVFk2DZdLenp0Gvs0pxBxY"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJBdzsC/KhV8cUaTPb42ZEAOx"
    "kwfJBPXMgBCtaekbhtwB1OtRuktnA1DYkhMlf72o6UVINLziWKEtpEF/E5oeo4="
)
RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCrywSJMbqCJAL4TCb4XuU72oMgrX2ju3R109tXEQB+wHabBNCcySH2jGU9pIPl"
    "Tp6wHVknAk9abxOa0oQ1Une36d5XWSDfNF3Z/LHxtPAbhgq5f8MDLofv6zEYeDcxi8xfSTuWCBDGm02DioGX41omXBoeedCyL1p+"
    "15AoyXWzehulgLrDlMnBwc5C5R5O0tMVBsquY0PEUxy+nRiHpFrz75HHAKIFp5/zMaTfxRgVtCP4ldICOjg3dPSQi54thx2DVKuk"
    "FVI6ywynt2+HTNx4PtJwqoUr52E2vzscpogDY9mB71Ya8r2qgPXElBZG1lg6cGBMSawtnso8+3Sc337zaBQnUOwXBqiJ3nGEXonN"
    "etQnmaWI9QFGb41/xBhT71TR9diDVdcwLvJfKv87KGrX2pfkiFF/S7kS9mdTrsZQwibCd1IlR2i/6VnryexYbQ4v5PacPgjA8maz"
    "9AVB6WTi7Ek1WGNUlR7taqQIw+AzT4Tw8CA9+vqySn5bXmU05+c="
)
OLD = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL2k9gz8AJZitBqt5fhKzU7A/Y8pGPVUDPAi+1k/H4Wf"

# A Fedora cloud image's serial console, as `openstack console log show` prints it.
FEDORA_CONSOLE = f"""\
[    0.000000] Linux version 6.5.6-300.fc39.x86_64 (mockbuild@a3c5b6e1) (gcc (GCC) 13.2.1) #1 SMP PREEMPT_DYNAMIC
[    0.000000] Command line: BOOT_IMAGE=(hd0,gpt3)/vmlinuz-6.5.6-300.fc39.x86_64 no_timer_check console=tty1 console=ttyS0,115200n8
[  OK  ] Started cloud-init-local.service - Initial cloud-init job (pre-networking).
[    8.412345] cloud-init[812]: Cloud-init v. 23.4.4-1.fc39 running 'init' at Mon, 12 Feb 2024 10:01:02 +0000. Up 8.35 seconds.
[    8.512301] cloud-init[812]: ci-info: ++++++++++++++++++++++++++++++++Net device info+++++++++++++++++++++++++++++++++
[    8.512800] cloud-init[812]: ci-info: |  eth0  | True |  10.0.0.12   | 255.255.255.0 | global | fa:16:3e:4c:2b:11 |
[    9.701100] cloud-init[812]: Generating public/private ed25519 key pair.
[    9.701400] cloud-init[812]: Your identification has been saved in /etc/ssh/ssh_host_ed25519_key
[    9.701500] cloud-init[812]: The key fingerprint is:
[    9.701600] cloud-init[812]: SHA256:508qP1lHWXeIyzXsp9QnlSwJRR7+3tuLBSS8QcszcAM root@kubernetes-minion-1
[    9.701700] cloud-init[812]: The key's randomart image is:
[    9.701800] cloud-init[812]: +--[ED25519 256]--+
[    9.701900] cloud-init[812]: |        .o+=*+.  |
[    9.702000] cloud-init[812]: +----[SHA256]-----+
ci-info: ++++++++++++++++Authorized keys from /home/fedora/.ssh/authorized_keys for user fedora+++++++++++++++++
ci-info: +-------------+---------------------------------------------------+---------+---------------+
ci-info: |   Keytype   |                Fingerprint (sha256)               | Options |    Comment    |
ci-info: +-------------+---------------------------------------------------+---------+---------------+
ci-info: | ssh-ed25519 | e6:12:84:d7:73:68:d0:71:cb:7b:2e:d3:0d:18:d7:9a:... |    -    | fedora@laptop |
ci-info: +-------------+---------------------------------------------------+---------+---------------+
<14>Feb 12 10:01:10 cloud-init: #############################################################
<14>Feb 12 10:01:10 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----
<14>Feb 12 10:01:10 cloud-init: 256 SHA256:qxuNwU68PuDh8lpOGqPA5SVCylgKO9OvSs1ZpLDn5yE root@kubernetes-minion-1 (ECDSA)
<14>Feb 12 10:01:10 cloud-init: 256 SHA256:508qP1lHWXeIyzXsp9QnlSwJRR7+3tuLBSS8QcszcAM root@kubernetes-minion-1 (ED25519)
<14>Feb 12 10:01:10 cloud-init: 3072 SHA256:FwFgMn5IugRHzzuipA2fQCyVZ+izgYjLkbYoMBR1Rpw root@kubernetes-minion-1 (RSA)
<14>Feb 12 10:01:10 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----
<14>Feb 12 10:01:10 cloud-init: #############################################################
-----BEGIN SSH HOST KEY KEYS-----
{ECDSA} root@kubernetes-minion-1
[   10.112233] random: crng init done
{ED25519} root@kubernetes-minion-1
{RSA} root@kubernetes-minion-1
-----END SSH HOST KEY KEYS-----
[   10.901234] cloud-init[1012]: Cloud-init v. 23.4.4-1.fc39 finished at Mon, 12 Feb 2024 10:01:11 +0000. Datasource DataSourceOpenStackLocal [net,ver=2].  Up 10.89 seconds

Fedora Linux 39 (Cloud Edition)
Kernel 6.5.6-300.fc39.x86_64 on an x86_64 (ttyS0)

kubernetes-minion-1 login: """

# An older cloud-init (Ubuntu 14.04 era) prints MD5 fingerprints and paths, no keys block.
TRUSTY_CONSOLE = """\
ec2: \r
ec2: #############################################################\r
ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\r
ec2: 256 {md5} /etc/ssh/ssh_host_ed25519_key.pub (ED25519)\r
ec2: -----END SSH HOST KEY FINGERPRINTS-----\r
ec2: #############################################################\r
"""


def test_fedora_console_gives_every_host_key_and_fingerprint() -> None:
    seen = parse_console_host_keys(FEDORA_CONSOLE)
    assert seen.keys == (ECDSA, ED25519, RSA)  # comments dropped, kernel noise skipped
    assert seen.fingerprints == (
        "SHA256:qxuNwU68PuDh8lpOGqPA5SVCylgKO9OvSs1ZpLDn5yE",
        "SHA256:508qP1lHWXeIyzXsp9QnlSwJRR7+3tuLBSS8QcszcAM",
        "SHA256:FwFgMn5IugRHzzuipA2fQCyVZ+izgYjLkbYoMBR1Rpw",
    )
    # the fingerprints cloud-init printed are the ones of the keys it printed
    assert {fingerprints_of(k)[0] for k in seen.keys} == set(seen.fingerprints)
    assert seen.vouches_for(ED25519 + " root@elsewhere")
    assert not seen.vouches_for(OLD)


def test_crlf_and_the_latest_boot_wins() -> None:
    rebuilt = FEDORA_CONSOLE + "\n" + (
        "-----BEGIN SSH HOST KEY KEYS-----\n" f"{OLD} root@kubernetes-minion-1\n" "-----END SSH HOST KEY KEYS-----\n"
    )
    seen = parse_console_host_keys(rebuilt.replace("\n", "\r\n"))
    assert seen.keys == (OLD,)
    assert seen.vouches_for(OLD) and not seen.vouches_for(ED25519)


def test_incomplete_or_corrupt_blocks_give_nothing() -> None:
    half = FEDORA_CONSOLE.split("-----END SSH HOST KEY KEYS-----")[0]
    assert parse_console_host_keys(half).keys == ()
    corrupt = "-----BEGIN SSH HOST KEY KEYS-----\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH7hAN\n-----END SSH HOST KEY KEYS-----\n"
    assert parse_console_host_keys(corrupt).keys == ()
    assert not parse_console_host_keys("[    0.0] Linux version 6.5\nlogin: ")


def test_md5_fingerprint_only_console_still_vouches() -> None:
    md5 = fingerprints_of(ED25519)[1].removeprefix("MD5:")
    seen = parse_console_host_keys(TRUSTY_CONSOLE.format(md5=md5))
    assert seen.keys == () and seen.fingerprints == ("MD5:" + md5,)
    assert seen.vouches_for(ED25519) and not seen.vouches_for(OLD)
    assert ConsoleHostKeys(fingerprints=(fingerprints_of(OLD)[0],)).vouches_for(OLD)


def test_trust_pins_per_instance_and_reconfirms_only_what_the_console_shows(tmp_path: Path) -> None:
    consoles = {"id-1": FEDORA_CONSOLE, "id-2": ""}

    async def console(server_id: str) -> str:
        return consoles[server_id]

    async def scenario() -> None:
        state = StateDir(tmp_path)
        trust = HostKeyTrust(state, console, wait=0.2)
        first = await trust.trusted("id-1", "kubernetes-minion-1")
        assert first.source == "console" and ED25519 in first.keys
        assert state.host_keys()["id-1"]["name"] == "kubernetes-minion-1"
        consoles["id-1"] = "nothing any more"
        again = await trust.trusted("id-1", "kubernetes-minion-1")
        assert again.source == "pinned" and again.keys == tuple(sorted(first.keys))
        # a key the console never printed is not re-pinned
        assert not await trust.reconfirm("id-1", "kubernetes-minion-1", OLD)
        assert OLD not in trust.pinned("id-1")
        # a rebuild prints a new block: re-pinned
        consoles["id-1"] = f"-----BEGIN SSH HOST KEY KEYS-----\n{OLD} root@x\n-----END SSH HOST KEY KEYS-----\n"
        assert await trust.reconfirm("id-1", "kubernetes-minion-1", OLD + " root@x")
        assert trust.pinned("id-1") == (OLD,)
        # an instance whose console never shows keys is not trusted (polled until the deadline)
        assert (await trust.trusted("id-2", "kubernetes-minion-2")).source == "none"
        assert "id-2" not in state.host_keys()

    asyncio.run(scenario())

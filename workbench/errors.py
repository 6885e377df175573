"""The one exception hierarchy of workbench (every exception class in the tree is here).

    WorkbenchError                 exit 1 unless said otherwise; str() is one line for a person
    ├── UsageError                 exit 2: bad arguments on the command line
    ├── ProfileError               exit 2: a profile or clouds.yaml value is wrong (names file, field)
    │   └── UnknownKey             a key the profile does not know (file:line, did-you-mean; profile)
    ├── StateError                 the local state dir is unreadable or corrupt
    ├── CloudError                 OpenStack said no or could not be reached
    │   ├── CloudAuthError         bad credentials
    │   ├── CloudUnreachable       endpoint down, DNS, TLS
    │   ├── CloudResourceMissing   image / flavor / keypair / network / pool not found
    │   └── PreflightError         up cannot start (engine.cloud.up; carries the leaked ports)
    ├── NodeError                  a node failed; carries the node name
    │   ├── SSHConnectError        could not connect or authenticate
    │   └── HostKeyMismatch        the node's host key is not the pinned one
    ├── KubeError                  kubectl or the API server failed (engine.kube.client)
    ├── KnownTokensError           a known_tokens.csv that is not CSV (engine.kube.token_files)
    ├── KubeconfigError            a kubelet kubeconfig that is not one (engine.kube.token_files)
    ├── SaltOutputError            Salt's output with a malformed state inside (engine.salt.output)
    ├── PipelineBusy               another pipeline is running
    ├── PipelineFailed             a pipeline stopped at a stage; names the stage and nodes
    ├── Cancelled                  exit 130: the user cancelled the pipeline
    └── BuildFailed                the build exited non-zero

Outside it, by design (never reach a person as a workbench error):

    ValueError
    └── ThemeFileError             a bad theme file (tui.themes); the app lists it, loads the rest
    Exception
    ├── StreamError                the push agent's, on the node (engine.push.node_agent: stdlib only)
    ├── FlagError                  a command line a fake Kubernetes program refuses (sandbox.kuberoot.programs)
    ├── ConfigError                a kubeconfig such a program cannot use (sandbox.kuberoot.programs)
    └── ApiError                   the sandbox's HTTP error answer (sandbox.cloud.errors; the programs' client too)

Subclasses live beside the code that raises them; ``tests/test_errors_tree.py`` checks
that every exception class under ``workbench/`` is drawn here.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    exit_status = 1

    def __str__(self) -> str:
        text = super().__str__()
        return " ".join(text.split()) if "\n" in text else text


class UsageError(WorkbenchError):
    exit_status = 2


class ProfileError(WorkbenchError):
    """A bad value in a profile: names the file, the field and what is expected."""

    exit_status = 2

    def __init__(self, path: object, field: str, expected: str) -> None:
        self.path = str(path)
        self.field = field
        self.expected = expected
        super().__init__(f"{self.path}: {field}: {expected}")


class StateError(WorkbenchError):
    pass


class CloudError(WorkbenchError):
    pass


class CloudAuthError(CloudError):
    pass


class CloudUnreachable(CloudError):
    pass


class CloudResourceMissing(CloudError):
    pass


def names_first(message: str, nodes: tuple[str, ...] | list[str]) -> bool:
    """True when ``message`` already starts by naming its node(s) ("node: ..."), as a wrapped
    NodeError's text or "a: x; b: y" do: wrappers then add no second "node:"."""
    return bool(nodes) and all(
        message.startswith(f"{n}: ") or f"; {n}: " in message for n in nodes
    )


class NodeError(WorkbenchError):
    def __init__(self, node: str, message: str) -> None:
        self.node = node
        super().__init__(message if names_first(message, [node]) else f"{node}: {message}")


class SSHConnectError(NodeError):
    pass


class HostKeyMismatch(NodeError):
    pass


class PipelineBusy(WorkbenchError):
    pass


class PipelineFailed(WorkbenchError):
    """A pipeline stopped at its first failing stage; names the stage and its nodes."""

    def __init__(self, pipeline: str, stage: str, message: str, nodes: tuple[str, ...] = ()) -> None:
        self.pipeline = pipeline
        self.stage = stage
        self.message = message
        self.nodes = tuple(nodes)
        where = f" on {', '.join(self.nodes)}" if self.nodes and not names_first(message, self.nodes) else ""
        super().__init__(f"{pipeline} failed at {stage}{where}: {message}")


class Cancelled(WorkbenchError):
    exit_status = 130


class BuildFailed(WorkbenchError):
    pass

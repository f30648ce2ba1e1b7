"""Security groups on Docker: iptables rules in a chain of pyecs jumped to from DOCKER-USER.

Every task in security groups is on the cluster network. Docker passes the packets between
containers of one bridge through the FORWARD chain (with ``br_netfilter`` and
``bridge-nf-call-iptables=1``), whose first jump is ``DOCKER-USER``; that jumps to this
backend's chain ``PYECS-SG-<token>``, which holds, for each address of each task in groups:
``RETURN`` (let Docker accept) for replies (conntrack ESTABLISHED,RELATED: groups are
stateful), for the task's own addresses, and for each source a rule of its groups admits
(a CIDR, or every address of the tasks in a source group) on the rule's protocol and
ports; then ``REJECT`` (a TCP reset; ICMP port unreachable otherwise) for everything
else. The whole chain is replaced at once (``iptables-restore --noflush``) on each change,
so no packet sees half a rule set. Every rule carries a comment naming the cluster and
the owner process, so that :func:`firewall_leftovers` (``pyecs gc``, the next ``open``)
removes what a crashed process left.

Not filtered: this machine's own processes (the pyecs process, its load balancers, the
``docker-proxy`` behind ``127.0.0.1`` published ports): their packets take the OUTPUT
chain, not FORWARD. Tasks in no group are not filtered either.
"""

from __future__ import annotations

import logging
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping

import anyio
import attrs

from pyecs.backends._shared import LABEL_OWNER, LABEL_OWNER_STARTED
from pyecs.backends.docker._cleanup import owner_is_gone
from pyecs.backends.docker._engine import Engine
from pyecs.exceptions import BackendError
from pyecs.models.security_group import IngressRule, SecurityPolicy

__all__ = ["CHAIN_PREFIX", "Firewall", "filtering_problem", "firewall_leftovers"]

log = logging.getLogger("pyecs.backends.docker")

CHAIN_PREFIX = "PYECS-SG-"
_COMMENT = re.compile(r'pyecs-sg cluster=(\S+) owner=(\S+) started=([^"\s]+)')
_BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def _iptables(*args: str, stdin: str | None = None, restore: bool = False) -> str:
    cmd = ["iptables-restore", "-w", "--noflush"] if restore else ["iptables", "-w", *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise BackendError(f"{' '.join(cmd[:4])}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def filtering_problem() -> str | None:
    """None when this host can filter traffic between containers; else why it cannot."""
    if shutil.which("iptables") is None or shutil.which("iptables-restore") is None:
        return "iptables is not installed on this host (apt-get install iptables)"
    try:
        _iptables("-S", "DOCKER-USER")
    except (BackendError, OSError, subprocess.SubprocessError) as exc:
        return f"cannot read the DOCKER-USER chain ({exc}); run as root with Docker's iptables"
    try:
        with open(_BRIDGE_NF) as f:
            on = f.read().strip() == "1"
    except OSError:
        on = False
    if not on:
        return (
            "bridge netfilter is off (br_netfilter not loaded, or bridge-nf-call-iptables=0): "
            "packets between containers of one bridge bypass iptables; run `modprobe "
            "br_netfilter && sysctl net.bridge.bridge-nf-call-iptables=1`"
        )
    return None


@attrs.define
class _Member:
    groups: tuple[str, ...]
    engine: Engine
    containers: set[str] = attrs.field(factory=set)
    addresses: tuple[str, ...] = ()


def _match(rule: IngressRule) -> str:
    if rule.protocol in ("tcp", "udp"):
        ports = str(rule.from_port)
        if rule.to_port != rule.from_port:
            ports += f":{rule.to_port}"
        return f"-p {rule.protocol} -m {rule.protocol} --dport {ports}"
    if rule.protocol == "icmp":
        if rule.from_port == -1:
            return "-p icmp"
        code = "" if rule.to_port == -1 else f"/{rule.to_port}"
        return f"-p icmp --icmp-type {rule.from_port}{code}"
    return ""


def render(chain: str, comment: str, policy: SecurityPolicy, members: Mapping[str, _Member]) -> str:
    """The ``iptables-restore`` input that replaces ``chain`` (pure: tested alone)."""
    tag = f'-m comment --comment "{comment}"'
    lines = [
        "*filter",
        f":{chain} - [0:0]",
        f"-A {chain} -m conntrack --ctstate RELATED,ESTABLISHED {tag} -j RETURN",
    ]
    for member in members.values():
        for dest in member.addresses:
            for own in member.addresses:
                lines.append(f"-A {chain} -s {own}/32 -d {dest}/32 {tag} -j RETURN")
            for rule in policy.rules_for(member.groups):
                if rule.cidr is not None:
                    sources: Iterable[str] = [rule.cidr]
                else:
                    sources = [
                        f"{a}/32"
                        for m in members.values()
                        if rule.source_group in m.groups
                        for a in m.addresses
                    ]
                for src in sources:
                    lines.append(f"-A {chain} -s {src} -d {dest}/32 {_match(rule)} {tag} -j RETURN")
            lines.append(f"-A {chain} -d {dest}/32 -p tcp {tag} -j REJECT --reject-with tcp-reset")
            lines.append(f"-A {chain} -d {dest}/32 {tag} -j REJECT")
    lines.append("COMMIT")
    return "\n".join(" ".join(line.split()) for line in lines) + "\n"


async def _addresses(engine: Engine, runtime_id: str) -> list[str]:
    info = await engine.call(engine.api.inspect_container, runtime_id)
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    return [str(n["IPAddress"]) for n in networks.values() if n.get("IPAddress")]


class Firewall:
    """The iptables chain of one DockerBackend: its tasks in security groups.

    Args:
        cluster: The cluster name (in every rule's comment).
        token: The backend's token (names the chain).
        owner: ``pyecs.owner`` and ``pyecs.owner-started`` labels of this process.
    """

    def __init__(self, cluster: str, token: str, owner: Mapping[str, str]) -> None:
        self.chain = f"{CHAIN_PREFIX}{token[:16]}"
        self.comment = (
            f"pyecs-sg cluster={cluster} owner={owner[LABEL_OWNER]} "
            f"started={owner[LABEL_OWNER_STARTED]}"
        )
        self.policy = SecurityPolicy()
        self._members: dict[str, _Member] = {}
        self._lock = anyio.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._installed = False

    def has(self, task_arn: str) -> bool:
        """Whether the task is one whose inbound traffic this chain filters."""
        return task_arn in self._members

    def add(self, task_arn: str, groups: tuple[str, ...], engine: Engine, runtime_id: str) -> None:
        """Record a created container of a task in groups (filtered once :meth:`sync`)."""
        member = self._members.setdefault(task_arn, _Member(groups, engine))
        member.containers.add(runtime_id)

    async def set_policy(self, policy: SecurityPolicy) -> None:
        """New groups or rules: replace the chain (new connections follow at once)."""
        self.policy = policy
        if self._members or self._installed:
            await self.sync()

    async def forget(self, task_arn: str) -> None:
        """The task is gone: its addresses leave the chain."""
        if self._members.pop(task_arn, None) is not None:
            await self.sync()

    async def sync(self, task_arn: str | None = None) -> None:
        """Read the addresses again (of ``task_arn``, or of every task) and replace the chain.

        Raises:
            BackendError: iptables refused the change.
        """
        async with self._lock:
            for arn, member in list(self._members.items()):
                if task_arn is not None and arn != task_arn:
                    continue
                found: list[str] = []
                for rid in sorted(member.containers):
                    try:
                        found.extend(await _addresses(member.engine, rid))
                    except Exception as exc:
                        log.debug("addresses of %s: %s", rid[:12], exc)
                member.addresses = tuple(sorted(set(found)))
            text = render(self.chain, self.comment, self.policy, self._members)
            with anyio.CancelScope(shield=True):  # a chain half-installed is never left
                await anyio.to_thread.run_sync(self._install, text, limiter=self._limiter)

    def _install(self, text: str) -> None:
        _iptables(stdin=text, restore=True)
        jump = ["DOCKER-USER", "-m", "comment", "--comment", self.comment, "-j", self.chain]
        if not self._installed:
            try:
                _iptables("-C", *jump)
            except BackendError:
                _iptables("-I", *jump[:1], "1", *jump[1:])
            self._installed = True

    async def aclose(self) -> None:
        """Remove the jump and the chain (shielded; idempotent)."""
        self._members.clear()
        if not self._installed:
            return
        self._installed = False
        with anyio.CancelScope(shield=True):
            async with self._lock:
                await anyio.to_thread.run_sync(_remove_chain, self.chain, limiter=self._limiter)


def _remove_chain(chain: str) -> None:
    """Delete every DOCKER-USER jump to ``chain``, then the chain itself."""
    for line in _iptables("-S", "DOCKER-USER").splitlines():
        if line.startswith("-A DOCKER-USER") and f"-j {chain}" in line.split("#")[0]:
            args = _split(line)
            _iptables("-D", *args[1:])
    try:
        _iptables("-F", chain)
        _iptables("-X", chain)
    except BackendError as exc:
        if "No chain" not in str(exc) and "does not exist" not in str(exc):
            raise


def _split(line: str) -> list[str]:
    """``iptables -S`` output back into arguments (the comment is one quoted word)."""
    return shlex.split(line)


def firewall_leftovers(cluster: str | None = None, all_owners: bool = False) -> tuple[str, ...]:
    """Remove the chains (and their DOCKER-USER jumps) of dead owners; return their names.

    Args:
        cluster: Only this cluster's; None for every cluster's.
        all_owners: Also those of live processes.
    """
    if shutil.which("iptables") is None:
        return ()
    try:
        listing = _iptables("-S")
    except (BackendError, OSError, subprocess.SubprocessError):
        return ()
    removed = []
    for line in listing.splitlines():
        if not line.startswith(f"-N {CHAIN_PREFIX}"):
            continue
        chain = line.split()[1]
        owner = next(
            (
                m
                for rule in listing.splitlines()
                if rule.startswith(f"-A {chain} ")
                for m in [_COMMENT.search(rule)]
                if m
            ),
            None,
        )
        if owner is None:
            continue  # not ours to judge: no rule says whose it is
        name, who, started = owner.groups()
        if cluster is not None and name != cluster:
            continue
        if not all_owners and not owner_is_gone({LABEL_OWNER: who, LABEL_OWNER_STARTED: started}):
            continue
        try:
            _remove_chain(chain)
            removed.append(chain)
        except BackendError as exc:
            log.warning("removing leftover chain %s: %s", chain, exc)
    return tuple(removed)

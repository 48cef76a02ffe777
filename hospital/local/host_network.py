"""What a killed compose run leaves on the host, and its removal.

Every rootful Podman on a machine shares the host's network state: the bridges, the iptables
rules that publish ports, the network namespaces under /run/netns and aardvark-dns's name tables
under /run/containers/networks (deliberately one place for all engines). Podman removes a
container's share of it when the container is removed. A run killed before that (a CI timeout,
`kill -9`, a closed terminal), or one whose checkout was deleted afterwards, leaves it behind, and
it breaks every later stack of the same project on the machine, whichever checkout runs it:

- aardvark-dns keeps the old name table, headed by the old gateway; the next stack's network gets
  another subnet (the old bridge still holds its own), its containers ask the new gateway, and no
  service name resolves ("could not translate host name "postgres"");
- the old port rules come first in iptables, so 127.0.0.1:<published port> leads to a container
  that is gone ("Connection refused").

`sweep(network)` removes exactly that: the name table of one network (the project's, by name),
the bridge that holds its gateway, the network namespaces plugged into that bridge, and the
iptables rules that name its containers, its subnet or its bridge. Call it only when no running
engine has that network (hospital/local/compose.py does, before `up` and after `down`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Podman's run directory for netavark when it runs as root (containers/common libnetwork).
NETAVARK_RUN_DIR = Path("/run/containers/networks")
# netavark's chains that every network shares; a network's own chains are dropped with it.
SHARED_CHAINS = {"NETAVARK-HOSTPORT-DNAT", "NETAVARK-HOSTPORT-MASQ", "NETAVARK-HOSTPORT-SETMARK",
                 "NETAVARK_FORWARD", "NETAVARK_ISOLATION_1", "NETAVARK_ISOLATION_2"}


@dataclass(frozen=True)
class Leftover:
    """The host state of one network that no engine removed."""

    network: str
    containers: tuple[str, ...]  # container ids in aardvark-dns's table
    gateways: tuple[str, ...]
    bridges: tuple[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network], ...]  # (interface, subnet)

    def describe(self) -> str:
        bridges = ", ".join(f"{name} ({subnet})" for name, subnet in self.bridges) or "no bridge"
        return f"network {self.network}: {len(self.containers)} container(s), {bridges}"


def name_table(network: str) -> Path:
    return NETAVARK_RUN_DIR / "aardvark-dns" / network


def ip_json(*args: str) -> list[dict]:
    result = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=False)
    return json.loads(result.stdout or "[]") if result.returncode == 0 else []


def find(network: str) -> Leftover | None:
    """The host state Podman keeps for `network`, or None when there is none."""
    table = name_table(network)
    try:
        lines = table.read_text().splitlines()
    except FileNotFoundError:
        return None
    gateways = tuple(g for g in (lines[0].split(",") if lines else []) if g)
    containers = tuple(line.split()[0] for line in lines[1:] if line.strip())
    bridges = []
    for interface in ip_json("addr", "show"):
        for address in interface.get("addr_info", []):
            if address.get("local") in gateways:
                subnet = ipaddress.ip_network(f"{address['local']}/{address['prefixlen']}", strict=False)
                bridges.append((interface["ifname"], subnet))
    return Leftover(network, containers, gateways, tuple(bridges))


def sweep(network: str) -> Leftover | None:
    """Remove what `find(network)` reports; returns it (None if there was nothing)."""
    leftover = find(network)
    if leftover is None:
        return None
    remove_namespaces(leftover)
    remove_rules(leftover)
    for bridge, _subnet in leftover.bridges:
        for port in ip_json("link", "show", "master", bridge):
            subprocess.run(["ip", "link", "delete", port["ifname"]], capture_output=True, check=False)
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)
    name_table(network).unlink(missing_ok=True)
    settle_aardvark()
    log.warning("removed the host network state a killed run left: %s", leftover.describe())
    return leftover


def remove_namespaces(leftover: Leftover) -> None:
    """Delete the network namespaces whose interfaces are plugged into the leftover bridges."""
    ids = {port.get("link_netnsid") for bridge, _ in leftover.bridges
           for port in ip_json("link", "show", "master", bridge)} - {None}
    for namespace in ip_json("netns", "list"):
        if namespace.get("id") in ids:
            subprocess.run(["ip", "netns", "delete", namespace["name"]], capture_output=True, check=False)


def remove_rules(leftover: Leftover) -> None:
    """Delete the iptables rules that name the leftover's containers, subnets or bridges, then the
    network's own chains those rules jumped to."""
    markers = [*leftover.containers, *(str(subnet) for _, subnet in leftover.bridges)]
    interfaces = [bridge for bridge, _ in leftover.bridges]
    for table in ("nat", "filter"):
        listing = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False)
        chains = set()
        for rule in listing.stdout.splitlines():
            words = shlex.split(rule)
            if words[:1] != ["-A"]:
                continue
            names_it = any(marker in rule for marker in markers) or any(
                flag in ("-i", "-o") and value in interfaces for flag, value in zip(words, words[1:]))
            if not names_it:
                continue
            subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True, check=False)
            if "-j" in words:
                target = words[words.index("-j") + 1]
                if target.startswith("NETAVARK") and target not in SHARED_CHAINS:
                    chains.add(target)
        for chain in chains:
            subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True, check=False)
            subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True, check=False)


def settle_aardvark() -> None:
    """aardvark-dns serves every network's table: re-read them (SIGHUP), or stop if none is left."""
    folder = NETAVARK_RUN_DIR / "aardvark-dns"
    pidfile = folder / "aardvark.pid"
    try:
        pid = int(pidfile.read_text().strip())
        is_aardvark = b"aardvark-dns" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return
    if not is_aardvark:
        return
    tables = [entry for entry in folder.iterdir() if entry.name != "aardvark.pid"]
    if tables:
        os.kill(pid, signal.SIGHUP)
    else:
        os.kill(pid, signal.SIGTERM)
        pidfile.unlink(missing_ok=True)

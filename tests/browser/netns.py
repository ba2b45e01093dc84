"""A network namespace for the browser, joined to the host by a veth pair.

Chromium gathers no ICE candidate on loopback alone, and must never see the machine's real
interfaces: inside this namespace it has only the veth (10.250.N.2) whose peer (10.250.N.1)
is where the test edge listens. No default route: nothing else is reachable from inside.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _subnet_in_use(n: int) -> bool:
    out = subprocess.run(["ip", "-o", "-4", "addr"], check=True, capture_output=True, text=True).stdout
    return f" 10.250.{n}." in out


@dataclass
class BrowserNet:
    name: str
    host_ip: str
    browser_ip: str
    chromium: Path  # a wrapper that runs Chromium inside the namespace

    @classmethod
    def create(cls, workdir: Path) -> BrowserNet:
        pid = os.getpid()
        n = next(i for i in [*range(pid % 200 + 1, 251), *range(1, 251)] if not _subnet_in_use(i))
        name, host_if, ns_if = f"edgebr{pid}", f"veb{pid}h", f"veb{pid}b"
        host_ip, browser_ip = f"10.250.{n}.1", f"10.250.{n}.2"
        _ip("netns", "add", name)
        try:
            _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
            _ip("link", "set", ns_if, "netns", name)
            # IPv4 only: an IPv6 link-local address finishing its duplicate-address detection a
            # moment after the link comes up is a network change to Chromium, which then fails
            # a navigation in flight with ERR_NETWORK_CHANGED.
            _ip("netns", "exec", name, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6")
            _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
            _ip("link", "set", host_if, "up")
            _ip("-n", name, "addr", "add", f"{browser_ip}/30", "dev", ns_if)
            _ip("-n", name, "link", "set", ns_if, "up")
            _ip("-n", name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            _ip("netns", "del", name)
            raise
        wrapper = workdir / "chromium-in-netns"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {name} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        return cls(name, host_ip, browser_ip, wrapper)

    def delete(self) -> None:
        # Deleting the namespace removes its veth end, and with it the host's peer.
        subprocess.run(["ip", "netns", "del", self.name], check=False, capture_output=True)

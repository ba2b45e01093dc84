"""NAT and WebSocket traversal: browser contacts (*.invalid;transport=ws) are unreachable as is."""

from __future__ import annotations

import KSR

# nathelper nat_uac_test flags: 1 private Contact, 2 Via vs source address,
# 16 Via port vs source port, 32 Contact address vs source, 64 Contact port vs source.
NAT_TESTS = 1 | 2 | 16 | 32 | 64


def behind_nat() -> bool:
    return KSR.is_WSX() > 0 or KSR.nathelper.nat_uac_test(NAT_TESTS) > 0


def fix_contact() -> None:
    """Tag the Contact with the real source (;alias=) so in-dialog requests can come back."""
    if KSR.hdr.is_present("Contact") > 0 and behind_nat():
        KSR.nathelper.add_contact_alias()


def route_by_alias() -> None:
    """In-dialog request toward an agent behind NAT: use the alias as destination."""
    if not pv_set("$du"):
        KSR.nathelper.handle_ruri_alias()


def pv_set(name: str) -> bool:
    return bool(KSR.pv.get(name))

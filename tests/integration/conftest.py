"""Fixtures shared by the contact-centre tests (queues, transfers, history)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from edgeops.stack import Stack
from kemi_app.provisioning.gateway import Gateway
from kemi_app.state import EdgeState
from tests.integration.contact_centre import ContactCentre
from tests.sipp import Sipp


@pytest.fixture(scope="module")
def centre(edge: Stack, sipp: Sipp, state: EdgeState) -> ContactCentre:
    """Provisioned once per test module (gateways take a moment to reach every worker)."""
    return ContactCentre.provision(state, sipp)


@pytest.fixture
def gateways(edge: Stack, state: EdgeState, sipp: Sipp) -> Iterator[list[int]]:
    """Two carrier gateways on fresh loopback ports, tried in this order; nothing else."""
    saved = state.directory.list_gateways()
    for gw in saved:
        state.directory.delete_gateway(gw.id)
    ports = [sipp.next_port(), sipp.next_port()]
    for i, port in enumerate(ports):
        state.directory.save_gateway(Gateway(id=f"test-gw{i}", address=f"sip:127.0.0.1:{port}", priority=10 * (i + 1)))
    yield ports
    for i in range(len(ports)):
        state.directory.delete_gateway(f"test-gw{i}")
    for gw in saved:
        state.directory.save_gateway(gw)

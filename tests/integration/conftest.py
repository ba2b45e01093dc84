"""Fixtures shared by the contact-centre tests (queues, transfers, history)."""

from __future__ import annotations

import pytest

from edgeops.stack import Stack
from kemi_app.state import EdgeState
from tests.integration.contact_centre import ContactCentre
from tests.sipp import Sipp


@pytest.fixture(scope="module")
def centre(edge: Stack, sipp: Sipp, state: EdgeState) -> ContactCentre:
    """Provisioned once per test module (gateways take a moment to reach every worker)."""
    return ContactCentre.provision(state, sipp)

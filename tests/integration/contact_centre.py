"""A contact centre for the queue and transfer tests: org `cc` with agents 3001-3003, queue
800 on DID +551140000800, carrier gateways on the customers' sipp ports, and org `dest`
whose IVR takes inter-org transfers. Everything is provisioned through EdgeState into the
real Redis of the edge under test."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from kemi_app.policy.digest import ha1
from kemi_app.policy.pause import AgentStatus
from kemi_app.provisioning.agent import Agent
from kemi_app.provisioning.did import Did
from kemi_app.provisioning.gateway import Gateway
from kemi_app.provisioning.org import Org
from kemi_app.provisioning.service import Service
from kemi_app.state import EdgeState, keys
from kemi_app.state.lookups import GATEWAY_VERSION_SECONDS
from tests.integration.helpers import register
from tests.sipp import Sipp, SippResult
from tests.state_kit import drop_bindings

ORG, DOMAIN = "cc", "cc.test"
AGENTS = ("3001", "3002", "3003")
PASSWORD = "agentpass"
QUEUE, DID = "800", "+551140000800"
DEST, DEST_DOMAIN = "dest", "dest.test"


@dataclass
class ContactCentre:
    state: EdgeState
    sipp: Sipp
    customer_ports: list[int]
    ivr_port: int
    dest_ivr_port: int
    agent_ports: dict[str, int] = field(default_factory=dict)

    @classmethod
    def provision(cls, state: EdgeState, sipp: Sipp) -> ContactCentre:
        centre = cls(state, sipp, [sipp.next_port(), sipp.next_port()], sipp.next_port(), sipp.next_port())
        centre.reset()
        # Workers re-read the gateway list at most every GATEWAY_VERSION_SECONDS.
        time.sleep(GATEWAY_VERSION_SECONDS + 0.2)
        return centre

    def reset(self, overflow_ivr: bool = False, interorg: bool = True, linked: bool = True) -> None:
        """Every agent available, idle in the order 3001, 3002, 3003, none registered."""
        ivr = f"sip:ivr@127.0.0.1:{self.ivr_port}" if overflow_ivr else ""
        self.state.directory.save_org(Org(ORG, DOMAIN, "Contact centre", ivr, interorg))
        self.state.directory.save_org(Org(DEST, DEST_DOMAIN, "Destination", f"sip:ivr@127.0.0.1:{self.dest_ivr_port}"))
        if linked:
            self.state.directory.save_link(ORG, DEST)
        else:
            self.state.directory.delete_link(ORG, DEST)
        self.state.history.settle()  # a previous call's end is written before, not over, this state
        now = time.time()
        for i, ext in enumerate(AGENTS):
            self.state.directory.save_agent(ORG, Agent(ext, ha1(ext, DOMAIN, PASSWORD), display_name=f"Agent {ext}"))
            self.state.agents.set_status(ORG, ext, AgentStatus(False, "", now - 1000))
            drop_bindings(self.state, ORG, ext)
            self.state.r.delete(keys.offer(ORG, ext), keys.calls(ORG, ext))
            self.state.r.set(keys.idle(ORG, ext), str(now - 100 + i))
        self.state.directory.save_service(ORG, Service(QUEUE, "queue", "Sales", members=list(AGENTS), ring_timeout=5))
        for i, port in enumerate(self.customer_ports):
            self.state.directory.save_gateway(Gateway(f"carrier{i}", f"sip:127.0.0.1:{port}", 100 + i))
        self.state.directory.save_did(Did(DID, ORG, QUEUE))

    def login(self, ext: str) -> int:
        if ext not in self.agent_ports:
            self.agent_ports[ext] = self.sipp.next_port()
        port = self.agent_ports[ext]
        result = register(self.sipp, ext, port, password=PASSWORD, domain=DOMAIN)
        assert result.ok, result.output + result.errors
        return port

    def pause(self, ext: str, name: str = "Break") -> None:
        self.state.agents.set_status(ORG, ext, AgentStatus(True, name, time.time()))

    def customer(self, scenario: str = "customer_call.xml", index: int = 0, **values: object) -> SippResult:
        """A customer calling the queue's DID through carrier gateway `index`."""
        return self.sipp.run(scenario, [[DID]], port=self.customer_ports[index], values=values)

    def did_uri(self, number: str = DID) -> str:
        """What a carrier's INVITE to a DID asks for (sipp fills in the edge's address)."""
        return f"sip:{number}@[remote_ip]:[remote_port]"

    def referred(self, uri: str, scenario: str = "customer_transfer.xml", index: int = 0,
                 **values: object) -> tuple[SippResult, str]:
        """A customer's call to `uri` that gets referred elsewhere: its result and the Refer-To
        URI ('' if none came)."""
        log = self.sipp.workdir / f"refer-to-{time.monotonic_ns()}.log"
        result = self.sipp.run(scenario, [], port=self.customer_ports[index], values={"target_uri": uri, **values},
                               extra=["-trace_logs", "-log_file", str(log)])
        found = re.search(r"refer-to (\S+)", log.read_text()) if log.exists() else None
        return result, found.group(1) if found else ""

    def transferred_customer(self, index: int = 0, scenario: str = "customer_transfer.xml",
                             **values: object) -> tuple[SippResult, SippResult | None]:
        """A customer whose phone honours REFER: the call that gets referred, then the new call
        its phone places to the Refer-To URI (from the same carrier address)."""
        first, refer_to = self.referred(self.did_uri(), scenario, index, **values)
        if not first.ok or not refer_to:
            return first, None
        return first, self.sipp.run("customer_dial.xml", [], port=self.customer_ports[index],
                                    values={"target_uri": refer_to})

    def last_attendance(self, ext: str) -> str:
        recent = self.state.history.recent_attendances(ORG, ext)
        assert recent, f"agent {ext} has no attendance"
        return recent[0]

    def story(self, att_id: str) -> list[tuple[str, str, str]]:
        """(event, target or actor, result) in order: the history as a test reads it."""
        return [(e.event, e.target or e.actor, e.result) for e in self.state.history.attendance_history(att_id)]

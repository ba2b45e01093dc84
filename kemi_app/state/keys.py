"""Every Redis key of the edge (all nodes share them)."""

from __future__ import annotations


def k(*parts: str) -> str:
    return "edge:" + ":".join(parts)


ORGS = k("orgs")  # set of org ids
GATEWAYS = k("gateways")  # set of gateway ids
DIDS = k("dids")  # set of E.164 numbers
GATEWAYS_VERSION = k("version", "gateways")  # bumped on every gateway write
# A fresh random value on every write of a DID, an org or a service: the carriers' calls
# cache their routes by it (a counter could repeat after Redis lost its data).
INBOUND_VERSION = k("inbound", "version")  # not under edge:version:{org}: an org may be named so


def org(org_id: str) -> str:
    return k("org", org_id)


def domain(name: str) -> str:
    return k("domain", name)


def org_version(org_id: str) -> str:
    """Bumped on every write of the org's settings: workers' local caches check it."""
    return k("version", org_id)


def links(org_id: str) -> str:
    return k("orglinks", org_id)


def companies(org_id: str) -> str:
    return k("companies", org_id)


def company(org_id: str, company_id: str) -> str:
    return k("company", org_id, company_id)


def agents(org_id: str) -> str:
    return k("agents", org_id)


def agent(org_id: str, ext: str) -> str:
    return k("agent", org_id, ext)


def agent_version(org_id: str, ext: str) -> str:
    """A fresh random value on every write of the agent (never a counter, which could repeat
    after Redis lost its data): workers' cached copies of the agent check it."""
    return k("agentversion", org_id, ext)


def services(org_id: str) -> str:
    return k("services", org_id)


def service(org_id: str, ext: str) -> str:
    return k("service", org_id, ext)


def gateway(gw_id: str) -> str:
    return k("gateway", gw_id)


def did(number: str) -> str:
    return k("did", number)


def bindings(org_id: str, ext: str) -> str:
    return k("bindings", org_id, ext)


def status(org_id: str, ext: str) -> str:
    return k("status", org_id, ext)


def session(org_id: str, ext: str) -> str:
    return k("session", org_id, ext)


def calls(org_id: str, ext: str) -> str:
    return k("calls", org_id, ext)


def call_ended(call_key: str) -> str:
    """Set briefly when a call's end is recorded, so a late start event cannot revive it."""
    return k("callended", call_key)


def node_calls(node: str) -> str:
    """org|ext|call key of every call record made by the dialogs of one edge node."""
    return k("nodecalls", node)


def authfail(org_id: str, ext: str, ip: str) -> str:
    return k("authfail", org_id, ext, ip)


def authfail_unknown(org_id: str, ip: str) -> str:
    """Failed attempts from ip with user names that are no agent: one key per source, not per name."""
    return k("authfail", org_id, "?", ip)


AUTHFAIL_RECENT = k("authfails")  # sorted set: org:ext by the time of its last auth failure (5 min)
# Sorted sets of org:ext by its latest binding's expiry: every node's sweep removes the bindings
# once it has passed. An agent's credentials changed since its phones registered: moved from the
# first to the second, which a refresh checked against a cached HA1 notices (state.registrations).
REGISTRATIONS = k("registrations")
REGISTRATIONS_REAUTH = k("registrations", "reauth")


def registration(org_id: str, ext: str) -> str:
    """An agent's member in REGISTRATIONS (or REGISTRATIONS_REAUTH)."""
    return f"{org_id}:{ext}"


def nonce_use(digest: str) -> str:
    """Set while a nonce use (policy.digest.nonce_use) is remembered: a second use is a replay."""
    return k("nonce", digest)


HISTORY = k("history")  # stream of every attendance event, for consumers (capped)


def attendance(att_id: str) -> str:
    return k("att", att_id)


def call_attendance(call_id: str) -> str:
    return k("call", call_id)


def transfer(token: str) -> str:
    return k("xfer", token)


def org_transfer(att_id: str) -> str:
    """An inter-org transfer asked for through the API: its progress, for the API's status."""
    return k("orgxfer", att_id)


def recent(org_id: str, ext: str) -> str:
    return k("recent", org_id, ext)


def offer(org_id: str, ext: str) -> str:
    """Set while a queue call is being offered to the agent (value: attendance id)."""
    return k("offer", org_id, ext)


def idle(org_id: str, ext: str) -> str:
    """When the agent's last call ended: queues offer to the longest idle first."""
    return k("idle", org_id, ext)


def supervision(call_id: str) -> str:
    """A supervisor's call (by its Call-ID) listening to, whispering to or barging into an agent's."""
    return k("sup", call_id)


def supervised_call(call_id: str) -> str:
    """Supervisors' Call-IDs on an agent's call (its Call-ID): its end ends them."""
    return k("supcalls", call_id)


RECORDINGS_ACTIVE = k("recactive")  # set of "{attendance}|{n}" being recorded now (any node)


def recording_call(call_id: str) -> str:
    """Set while the call is recorded (value: attendance): its end stops the recording."""
    return k("reccall", call_id)


def recordings_todo(node: str) -> str:
    """List of "{attendance}|{n}" stopped on this node whose audio files are still to write."""
    return k("rectodo", node)


def recordings_kept(node: str) -> str:
    """Sorted set of the recordings whose files this node keeps (score: when they stopped)."""
    return k("reckept", node)


def queue_members(org_id: str, queue: str) -> str:
    """Set of the queue's member extensions (kept with the service)."""
    return k("qmembers", org_id, queue)


def member_of(org_id: str, ext: str) -> str:
    """Set of the queues an agent is a member of (kept with the services)."""
    return k("memberof", org_id, ext)


def queue_free(org_id: str, queue: str) -> str:
    """Sorted set of the queue's offerable members, scored by when they became free."""
    return k("qfree", org_id, queue)


def queue_waiting(org_id: str, queue: str) -> str:
    """Sorted set of the calls waiting in the queue (attendance ids), scored by arrival."""
    return k("qwait", org_id, queue)


def queue_waiters(org_id: str, queue: str) -> str:
    """Hash: attendance id of a waiting call -> where it waits (policy.queue.Waiter)."""
    return k("qwaiters", org_id, queue)


def wakes(node: str) -> str:
    """List of waiting calls held by `node` that a member just became free for."""
    return k("wake", node)


NODES = k("nodes")  # hash: node URI -> until when its last heartbeat keeps it alive


def node(node_uri: str) -> str:
    """A node's JSON card (SIP and admin addresses, draining), expiring with its heartbeat."""
    return k("node", node_uri)


def node_inbox(node_uri: str) -> str:
    """List of work other nodes hand to this one (e.g. a vanished agent whose calls it anchors)."""
    return k("nodeinbox", node_uri)

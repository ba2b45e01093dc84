"""All Redis access of the edge lives in this package. EdgeState holds one store per concern,
each given what it depends on:

  directory       provisioning data: orgs, links, companies, agents, services, gateways, DIDs
  lookups         what SIP requests read from the directory, cached per worker (directory)
  registrations   credentials and failures, bindings, WebSocket connections
  agents          status, login sessions, calls in progress, presence (directory)
  call_views      an agent's new call: everything the policy needs in one round trip
  history         attendances, their legs and events, transfers announced in a REFER
  queues          queue members (presence read with their offer locks) and offer locks
  supervisions    supervisors' sessions on agents' calls, and the agent a supervisor targets
  queues          per-queue state: free members by idle time, waiting calls, offer locks
  dialog_events   a dialog event's calls in progress, and its history (in Kamailio: to the history
                  writer; `settle` before a read that decides on calls in progress)
  recordings      call recordings of attendances: start, stop, files written, retention
  nodes           edge nodes' heartbeats and cards, and each node's inbox from the others

Every public method of a store is timed (edge_redis_seconds{op}); optimistic transactions
share one retry policy (base.Store._optimistic).

Keys (every edge node shares them; see keys.py):
  edge:domain:{domain}             -> org id
  edge:orgs, edge:org:{org}        set of org ids; hash of the org (provisioning.org.Org)
  edge:orglinks:{org}              set of orgs {org} may transfer calls to
  edge:companies:{org}, edge:company:{org}:{id}     (provisioning.company.Company)
  edge:agents:{org},    edge:agent:{org}:{ext}      (provisioning.agent.Agent: HA1, never passwords)
  edge:services:{org},  edge:service:{org}:{ext}    (provisioning.service.Service)
  edge:gateways,        edge:gateway:{id}           (provisioning.gateway.Gateway)
  edge:dids,            edge:did:{number}           (provisioning.did.Did)
  edge:version:{org}, edge:version:gateways         bumped on writes; workers' caches check them
  edge:inbound:version             a fresh value on every DID, org or service write (carriers' routes)
  edge:agentversion:{org}:{ext}    a fresh value on every write of the agent (workers' copies of
                                   agents in the call view); deleted with the agent
  edge:bindings:{org}:{ext}        hash: contact URI -> JSON binding (see policy.registration); no
                                   TTL: a node's sweep removes it once its latest binding expired
  edge:registrations               sorted set: org:ext by its latest binding's expiry (the sweep's
                                   index); edge:registrations:reauth holds those whose credentials
                                   changed since (their next refresh is authenticated afresh)
  edge:status:{org}:{ext}          chosen status: available, or paused with a name (and whether
                                   that pause type blocks calls)
  edge:session:{org}:{ext}         current login session + online_until, as of the login, the
                                   unregister or the sweep (presence takes a later expiry from the
                                   bindings: a refresh need not write it) (and the session's
                                   auto-answer choice, *44 / *45)
  edge:calls:{org}:{ext}           hash: dialog key -> start time, for calls in progress (no TTL
                                   when edge:nodecalls:{node} lists them: that node drops them)
  edge:authfail:{org}:{ext}:{ip}   failed digest attempts of an agent from a source, expiring
  edge:authfail:{org}:?:{ip}       failed attempts from a source with names that are no agent
  edge:authfails                   sorted set: org:ext of agents with a failed attempt in the
                                   last 5 minutes, by its time (nodes skip the lockout read
                                   on a refresh of any other agent)
  edge:nonce:{hash}                a used agent API nonce (user, nonce, nc, cnonce): a second use
                                   is a replay
  edge:att:{id}                    hash: an attendance (policy.attendance.Attendance), its legs
                                   and its history (state.attendance says how)
  edge:history                     stream of every attendance's events, capped by length and age
  edge:call:{call-id}              -> attendance id of a leg, while a call can last
  edge:xfer:{token}                a transfer let through in a REFER, awaiting its INVITE
  edge:orgxfer:{att}               an inter-org transfer asked for through the API, and how it went
  edge:recent:{org}:{ext}          an agent's recent attendance ids, newest first (by its latest
                                   start, offer, transfer or conference naming the agent)
  edge:offer:{org}:{ext}           a queue call is being offered to the agent (expiring lock)
  edge:idle:{org}:{ext}            when the agent's last call as a queue member ended (longest
                                   idle first)
  edge:sup:{call-id}               a supervisor's call: whose call it supervises, how (JSON)
  edge:supcalls:{call-id}          set: the supervisors' Call-IDs on that agent's call
  edge:att:{id} fields r1, r2      the attendance's recordings (policy.recording.Recording, JSON)
  edge:recactive                   set of recordings running now ("{attendance}|{n}")
  edge:reccall:{call-id}           -> attendance, while that call is being recorded
  edge:rectodo:{node}              recordings stopped on a node, audio files still to write
  edge:reckept:{node}              recordings whose files a node keeps, by stop time (retention)
  edge:qmembers:{org}:{queue}      set of the queue's members; edge:memberof:{org}:{ext} its queues
  edge:qfree:{org}:{queue}         sorted set: offerable members by when they became free
  edge:qwait:{org}:{queue}         sorted set: waiting calls (attendance ids) by arrival;
  edge:qwaiters:{org}:{queue}      hash: attendance id -> where the call is parked
  edge:wake:{node}                 list: parked calls of a node that a member was handed to
  edge:nodes                       hash: node URI -> until when its heartbeat keeps it alive
  edge:node:{node}                 a node's card (addresses, draining), expiring with its heartbeat
  edge:nodeinbox:{node}            list: work other nodes hand to this node (vanished agents)
  edge:nodecalls:{node}            set: the call records ("org|ext|dialog key") of a node's dialogs
"""


from __future__ import annotations

import redis

from kemi_app import redis_locator
from kemi_app.state.agentstate import AgentStates
from kemi_app.state.attendance import Attendances
from kemi_app.state.callview import AgentAuth, CallView, CallViews
from kemi_app.state.dialogevents import DialogEvents
from kemi_app.state.directory import Directory
from kemi_app.state.guard import guarded, redis_dependency
from kemi_app.state.lookups import Lookups
from kemi_app.state.nodes import Nodes
from kemi_app.state.queues import Queues
from kemi_app.state.recordings import Recordings
from kemi_app.state.registrations import Registrations
from kemi_app.state.supervision import Supervisions

__all__ = ["AgentAuth", "CallView", "EdgeState", "connect"]


def connect(url: str, timeout: float = 1.0, *, kernel_timeouts: bool = False) -> redis.Redis:
    """A client whose connections share one circuit breaker (see guard.py): SIP workers pass a
    short timeout, so a stalled Redis costs a few of them before requests get a fast 503, and
    `kernel_timeouts` (only for a process no signals interrupt: kemi_app/redis_wire.py).
    `url` is a single instance or a Sentinel-watched primary (kemi_app/redis_locator.py)."""
    connection = guarded(redis_dependency(), redis_locator.base_connection(url))
    connection.kernel_timeouts = kernel_timeouts
    return redis_locator.client(url, timeout, connection, decode_responses=True, health_check_interval=30)


def waiting_store(url: str, block_seconds: float) -> Queues:
    """Queues on a client of its own that may wait `block_seconds` on Redis for the next wake
    (the wake timer process); the SIP workers' short timeout would read that as an outage."""
    return Queues(connect(url, block_seconds + 1.0))


class EdgeState:
    def __init__(self, client: redis.Redis, history_retention_days: int = 30,
                 recording_retention_days: int = 30) -> None:
        self.r = client
        self.directory = Directory(client)
        self.lookups = Lookups(client, self.directory)
        self.registrations = Registrations(client)
        self.history = Attendances(client, history_retention_days)
        self.dialog_events = DialogEvents(client, self.history)
        self.agents = AgentStates(client, self.directory, self.dialog_events.settle)
        self.call_views = CallViews(client)
        self.queues = Queues(client)
        self.supervisions = Supervisions(client)
        self.recordings = Recordings(client, self.history, recording_retention_days)
        self.nodes = Nodes(client)

    def ping(self) -> bool:
        return bool(self.r.ping())

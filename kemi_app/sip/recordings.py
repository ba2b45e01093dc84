"""Call recording through rtpengine: started and stopped by the API, by the agent's own
client (an in-dialog INFO with a `Record: on|off` header) and by automatic rules at the
answer; stopped by a transfer and by the end of the call.

rtpengine (recording-method=pcap) writes one pcap per start/stop and, at the stop, a
metadata file naming it. The node's timer process (`housekeeping`) turns each stopped
recording's pcap into WAV files (kemi_app/pcap_audio.py), then deletes the pcap; it also
deletes files and records past EDGE_RECORDING_RETENTION_DAYS.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote

import KSR

from kemi_app import metrics
from kemi_app.dependency import DependencyDown
from kemi_app.pcap_audio import convert
from kemi_app.policy.attendance import Attendance
from kemi_app.policy.interorg import Outcome, TransferRequest
from kemi_app.policy.recording import (
    CALL_ENDED,
    FAILED,
    NO_CALL,
    NOT_RECORDING,
    READY,
    TRANSFERRED,
    Action,
    Recording,
    Refusal,
    parse_action,
)
from kemi_app.rtpengine_ng import command as ng_command
from kemi_app.sip import media
from kemi_app.sip.callstate import CallRecord
from kemi_app.sip.context import Context, log_ctx, pv, reply

HEADER = "Record"  # INFO header: on / off (also start / stop)
NG_TIMEOUT = 0.4  # like the module's own commands: a stalled rtpengine must not hold a worker
MEDIA_DOWN = Refusal(503, "Media Relay Unavailable")
NOT_AN_AGENT = Refusal(403, "Only Agents On The Call Record It")
METADATA_WAIT = 30.0  # seconds after its stop that a recording's pcap may still be being closed
META_PREFIX = "rtpengine-meta-"
HOUSEKEEPING_BUDGET = 2.0  # seconds of audio conversion per timer tick, so reconcile still runs


def _ng(ctx: Context, command: str, call_id: str) -> bool:
    if not ctx.rtpengine.usable():
        return False
    try:
        answer = ng_command(media.ng_for(ctx, call_id), {"command": command, "call-id": call_id}, NG_TIMEOUT)
    except (OSError, ValueError) as e:
        if isinstance(e, OSError):
            ctx.rtpengine.failed()
        KSR.err(f"recording: rtpengine {command} failed for call-id={call_id}: {e}\n")
        return False
    ctx.rtpengine.succeeded()
    return answer.get("result") == b"ok"


def start(ctx: Context, org: str, att_id: str, call_id: str, by: str, trigger: str, reason: str) -> Recording | Refusal:
    outcome = ctx.state.recordings.start(att_id, call_id, by, reason)
    if isinstance(outcome, Refusal):
        return outcome
    if not _ng(ctx, "start recording", call_id):
        ctx.state.recordings.forget_start(att_id, org, outcome, MEDIA_DOWN.reason)
        metrics.recording_failed("start")
        return MEDIA_DOWN
    metrics.recording_started(org, trigger)
    return outcome


def stop(ctx: Context, att_id: str, call_id: str, by: str, reason: str) -> list[Recording] | Refusal:
    stopped = ctx.state.recordings.stop(att_id, call_id, by, reason, ctx.settings.node_uri)
    if not stopped:
        return NOT_RECORDING
    for rec in stopped:
        _ng(ctx, "stop recording", rec.call_id)
    return stopped


# -- triggers inside the call -------------------------------------------------------------
def on_answer(ctx: Context, record: CallRecord, call_id: str) -> None:
    """dialog:start of a call an automatic rule records (decided when it started)."""
    if record.record_rule and record.attendance:
        outcome = start(ctx, record.org, record.attendance, call_id, "rule", "rule", record.record_rule)
        if isinstance(outcome, Refusal):
            KSR.notice(f"recording: rule '{record.record_rule}' not applied: {outcome.reason} {log_ctx()}\n")


def on_call_end(ctx: Context, att_id: str, call_id: str) -> None:
    """The call is over: rtpengine's delete has closed its pcap, the records follow."""
    ctx.state.recordings.stop(att_id, call_id, "edge", CALL_ENDED, ctx.settings.node_uri)


def on_transfer(ctx: Context, call_id: str) -> None:
    """A REFER was let through: as agent bars do, the transferring call stops recording."""
    record = CallRecord.load()
    if record.attendance:
        stop(ctx, record.attendance, call_id, _sender(record), TRANSFERRED)


def after_api_transfer(ctx: Context, req: TransferRequest) -> TransferRequest:
    """The API transferred the customer (the edge sent the REFER): recordings stop as well."""
    if req.outcome is Outcome.STARTED:
        stop(ctx, req.attendance, "", "api", TRANSFERRED)
    return req


def _sender(record: CallRecord) -> str:
    """Who sent this in-dialog request: requests from the called side carry the dialled
    number in From, so the one who answered is named instead."""
    upstream = KSR.rr.is_direction("upstream") > 0
    return (record.answered_by if upstream else "") or pv("$fU")


def on_info(ctx: Context) -> bool:
    """An INFO with a Record header is the agent's own recording button: answered here, never
    relayed. False for any other INFO (DTMF and the like go on to the other party)."""
    if pv("$rm") != "INFO" or KSR.hdr.is_present(HEADER) <= 0:
        return False
    action = parse_action(pv(f"$hdr({HEADER})"))
    if action is None:
        reply(400, "Record Header Must Be on Or off")
        return True
    record, call_id = CallRecord.load(), pv("$ci")
    actor = _sender(record)
    if not record.attendance:
        outcome: Recording | list[Recording] | Refusal = NO_CALL
    elif actor not in record.agents:
        outcome = NOT_AN_AGENT
    elif action is Action.START:
        outcome = start(ctx, record.org, record.attendance, call_id, actor, "agent", "agent request")
    else:
        outcome = stop(ctx, record.attendance, call_id, actor, "agent request")
    if isinstance(outcome, Refusal):
        reply(outcome.status, outcome.reason)
    else:
        reply(200, "Recording Started" if action is Action.START else "Recording Stopped")
    return True


# -- the API -------------------------------------------------------------------------------
def live_call(ctx: Context, att: Attendance) -> str:
    """The attendance's call in progress: its newest leg rtpengine still relays ('' : none)."""
    for call_id in reversed(att.legs):
        try:
            answer = ng_command(media.ng_for(ctx, call_id), {"command": "query", "call-id": call_id},
                                NG_TIMEOUT)
        except (OSError, ValueError):
            return ""
        if answer.get("result") == b"ok":
            return call_id
    return ""


def by_api(ctx: Context, att_id: str, action: Action) -> Recording | list[Recording] | Refusal:
    att = ctx.state.history.attendance(att_id)
    call_id = live_call(ctx, att) if att is not None else ""
    if att is None or not call_id:
        return NO_CALL
    if action is Action.START:
        return start(ctx, att.org, att_id, call_id, "api", "api", "api request")
    return stop(ctx, att_id, call_id, "api", "api request")


# -- the timer process: audio files and retention ---------------------------------------
def _metadata_of(meta_dir: Path, call_id: str) -> Path | None:
    """rtpengine's oldest metadata file for the call (one per start/stop, written at the stop):
    rtpengine-meta-{Call-ID, %-escaped}-{random hex}.txt."""
    try:
        names = [n for n in os.listdir(meta_dir)
                 if n.startswith(META_PREFIX) and n.endswith(".txt")
                 and unquote(n[len(META_PREFIX):-len(".txt")].rpartition("-")[0]) == call_id]
    except FileNotFoundError:
        return None
    found = [meta_dir / n for n in names]
    return min(found, key=lambda p: p.stat().st_mtime) if found else None


def write_audio(ctx: Context, att_id: str, rec: Recording) -> Recording | None:
    """The recording with its audio files, FAILED when it has none; None: not ready yet."""
    base = ctx.settings.recordings_dir
    meta = _metadata_of(base / "metadata", rec.call_id)
    if meta is None:
        if time.time() - rec.stopped_at < METADATA_WAIT:
            return None
        metrics.recording_failed("media")
        return replace(rec, state=FAILED)
    pcap = Path(meta.read_text().split("\n", 1)[0].strip())
    try:
        out = convert([pcap], base / "audio" / f"{att_id}-r{rec.n}")
    except (OSError, ValueError) as e:
        KSR.err(f"recording: no audio for {att_id} r{rec.n}: {e}\n")
        metrics.recording_failed("audio")
        done = replace(rec, state=FAILED)
    else:
        metrics.recording_bytes(out.size)
        done = replace(rec, state=READY, file=str(out.mixed), parties=tuple(str(p) for p in out.parties),
                       duration=round(out.duration, 3), size=out.size)
    for used in (pcap, meta):
        used.unlink(missing_ok=True)
    return done


def housekeeping(ctx: Context) -> None:
    """rtimer tick: audio files for stopped recordings, then retention. With Redis down it
    waits for the next tick (the to-do list and the kept set are in Redis)."""
    try:
        _housekeeping(ctx)
    except DependencyDown:
        return


def _housekeeping(ctx: Context) -> None:
    node, store = ctx.settings.node_uri, ctx.state.recordings
    deadline = time.monotonic() + HOUSEKEEPING_BUDGET
    waiting = []
    while time.monotonic() < deadline and (todo := store.next_todo(node)) is not None:
        att_id, rec = todo
        done = write_audio(ctx, att_id, rec)
        if done is None:
            waiting.append(todo)
        else:
            store.finished(node, att_id, done)
    for att_id, rec in waiting:
        store.postpone(node, att_id, rec)
    for att_id, n, files in store.expired(node, time.time()):
        for name in files:
            Path(name).unlink(missing_ok=True)
        store.drop(node, att_id, n, files)

"""edgectl: the operator's command line for the edge's /v1 API (same operations, same rules).

The API address comes from EDGE_ADMIN_ADDR/EDGE_ADMIN_PORT (or --url); the token from
EDGE_API_TOKEN, else from the file `./edge run` generates in the data dir.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kemi_app.settings import Settings


class CliError(Exception):
    pass


def on_off(value: str) -> bool:
    if value.lower() in ("on", "true", "yes", "1"):
        return True
    if value.lower() in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError("expected on or off")


def csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def pause_types(value: str) -> list[dict[str, object]]:
    """`1:Lunch:noblock,2:Break` -> the company's pause types (`noblock`: agents may call out)."""
    out: list[dict[str, object]] = []
    for item in csv(value):
        code, _, rest = item.partition(":")
        name, _, flag = rest.partition(":")
        if not code or not name or flag not in ("", "noblock"):
            raise argparse.ArgumentTypeError(f"expected CODE:NAME or CODE:NAME:noblock, not {item!r}")
        out.append({"code": code, "name": name, "blocks_calls": flag != "noblock"})
    return out


@dataclass(frozen=True)
class Field:
    option: str  # --block-calls-during-pause -> JSON key block_calls_during_pause
    kind: Callable[[str], Any] = str
    help: str = ""

    @property
    def key(self) -> str:
        return self.option.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class Resource:
    """A collection in the API: `ids` name the path parameters, the last one being the item."""

    name: str
    collection: str  # e.g. "/v1/orgs/{org}/agents"
    ids: tuple[str, ...]
    fields: tuple[Field, ...]
    help: str

    def item_path(self, args: argparse.Namespace) -> str:
        return self.list_path(args) + "/" + quote(getattr(args, self.ids[-1]), safe="")

    def list_path(self, args: argparse.Namespace) -> str:
        return self.collection.format(**{i: quote(getattr(args, i), safe="") for i in self.ids[:-1]})


RESOURCES = (
    Resource("org", "/v1/orgs", ("org",), (
        Field("--domain", help="SIP domain (the agents' digest realm)"), Field("--name"),
        Field("--ivr-uri", help="sip: URI of the org's IVR"),
        Field("--interorg-transfer-enabled", on_off, "on|off")), "orgs (tenants)"),
    Resource("company", "/v1/orgs/{org}/companies", ("org", "company"), (
        Field("--name"), Field("--block-calls-during-pause", on_off, "on|off (applies from each agent's next login)"),
        Field("--allowed-country-codes", csv, "comma-separated, e.g. 55,1"),
        Field("--default-country", help="country code of national numbers, e.g. 55"),
        Field("--emergency-numbers", csv, "comma-separated, e.g. 190,192,193"),
        Field("--pause-types", pause_types, "CODE:NAME[:noblock],... e.g. 1:Lunch:noblock,2:Break"),
        Field("--caller-id", help="E.164 DID carriers see on outbound calls"),
        Field("--hide-caller-id", on_off, "on|off (Privacy: id)"),
        Field("--mask-customer-numbers", on_off, "on|off"),
        Field("--mask-visible-digits", int, "last digits left visible")), "companies of an org"),
    Resource("agent", "/v1/orgs/{org}/agents", ("org", "ext"), (
        Field("--password", help="stored as HA1 only (see also --password-stdin)"), Field("--company"),
        Field("--display-name"), Field("--auto-answer", on_off, "on|off"), Field("--dnd", on_off, "on|off")),
        "agents of an org"),
    Resource("service", "/v1/orgs/{org}/services", ("org", "ext"), (
        Field("--kind", help="queue, ivr or conference"), Field("--name"), Field("--target-uri"),
        Field("--members", csv, "queue members, comma-separated extensions"),
        Field("--ring-timeout", int, "seconds (queues)"),
        Field("--caller-id", help="E.164 DID its members may present (queues)")),
        "services (3-digit extensions) of an org"),
    Resource("gateway", "/v1/gateways", ("gateway",), (
        Field("--address", help="sip:host:port"), Field("--priority", int, "lowest is tried first"),
        Field("--codecs", csv, "comma-separated, e.g. PCMU,PCMA"),
        Field("--auth-username", help="digest user for a carrier that challenges (password: --password-stdin)"),
        Field("--auth-realm", help="only this realm's challenges")), "carrier gateways"),
    Resource("did", "/v1/dids", ("number",), (
        Field("--org"), Field("--service", help="3-digit service extension")), "DIDs (E.164 numbers)"),
)


# The write-only field a resource's --password-stdin fills (never on a command line).
SECRETS = {"agent": "password", "gateway": "auth_password"}


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except OSError as e:
            raise CliError(f"cannot reach the edge at {self.url}: {e}") from None
        return status, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: object = None) -> Any:
        status, payload = self.call(method, path, body)
        if status >= 300:
            detail = payload.get("error", payload) if isinstance(payload, dict) else payload
            where = f" (field {payload['field']})" if isinstance(payload, dict) and payload.get("field") else ""
            raise CliError(f"{method} {path}: HTTP {status}: {detail}{where}")
        return payload


def resolve_token(settings: Settings, token_file: str | None) -> str:
    if settings.api_token and not token_file:
        return settings.api_token
    path = Path(token_file) if token_file else settings.data_dir / "api_token"
    try:
        return path.read_text().strip()
    except OSError:
        raise CliError(f"no API token: set EDGE_API_TOKEN or start the edge (it writes {path})") from None


# -- commands -------------------------------------------------------------------------------

def cmd_list(client: Client, res: Resource, args: argparse.Namespace) -> Any:
    return client.ok("GET", res.list_path(args))


def cmd_get(client: Client, res: Resource, args: argparse.Namespace) -> Any:
    return client.ok("GET", res.item_path(args))


def cmd_set(client: Client, res: Resource, args: argparse.Namespace) -> Any:
    """Create, or change only the options given (the rest stays as stored)."""
    path = res.item_path(args)
    status, current = client.call("GET", path)
    body = dict(current) if status == 200 else {}
    for f in res.fields:
        value = getattr(args, f.key)
        if value is not None:
            body[f.key] = value
    if getattr(args, "password_stdin", False):
        body[SECRETS[res.name]] = sys.stdin.readline().rstrip("\n")
    return client.ok("PUT", path, body)


def cmd_delete(client: Client, res: Resource, args: argparse.Namespace) -> Any:
    client.ok("DELETE", res.item_path(args) + ("?force=true" if args.force else ""))
    return {"deleted": res.item_path(args)}


def agent_path(args: argparse.Namespace, tail: str) -> str:
    return f"/v1/orgs/{quote(args.org, safe='')}/agents/{quote(args.ext, safe='')}/{tail}"


AGENT_ACTIONS: dict[str, tuple[str, Callable[[argparse.Namespace], tuple[str, str, object]]]] = {
    "pause": ("pause with a name (Break, Restroom, Training, Meeting...)",
              lambda a: ("PUT", agent_path(a, "status"), {"status": "paused", "pause": a.pause})),
    "unpause": ("end the pause: available again",
                lambda a: ("PUT", agent_path(a, "status"), {"status": "available"})),
    "available": ("same as unpause", lambda a: ("PUT", agent_path(a, "status"), {"status": "available"})),
    "dnd": ("do-not-disturb on or off", lambda a: ("PUT", agent_path(a, "dnd"), {"dnd": a.state})),
    "status": ("the chosen status", lambda a: ("GET", agent_path(a, "status"), None)),
    "presence": ("state, pause name, time in state", lambda a: ("GET", agent_path(a, "presence"), None)),
    "session": ("current login session and its snapshot", lambda a: ("GET", agent_path(a, "session"), None)),
}


def presence_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'EXT':<6} {'STATE':<9} {'PAUSE':<12} {'DND':<4} {'CALLS':>5} {'IN STATE':>10}"]
    for r in rows:
        seconds = r["seconds_in_state"]
        since = "-" if seconds is None else f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"
        lines.append(f"{r['ext']:<6} {r['state']:<9} {r['pause'] or '-':<12} {'on' if r['dnd'] else '-':<4} "
                     f"{r['calls']:>5} {since:>10}")
    return "\n".join(lines)


def history_table(record: dict[str, Any]) -> str:
    head = (f"{record['id']}  org {record['org']}  {record['direction']} via {record['origin']}"
            f"{'  queue ' + record['queue'] if record['queue'] else ''}"
            f"{'  (transferred between orgs)' if record['interorg_transferred'] else ''}"
            f"{'  from ' + record['transferred_from'] if record.get('transferred_from') else ''}"
            f"{'  to ' + record['transferred_to'] if record.get('transferred_to') else ''}")
    lines = [head, f"{'TIME':<12} {'EVENT':<11} {'ACTOR':<16} {'TARGET':<28} {'RESULT':<22} DETAIL"]
    for e in record["history"]:
        at = time.strftime("%H:%M:%S", time.localtime(float(e["at"]))) + f".{int(float(e['at']) * 1000) % 1000:03d}"
        lines.append(f"{at:<12} {e['event']:<11} {e.get('actor', '-'):<16} {e.get('target', '-'):<28} "
                     f"{e.get('result', '-'):<22} {' '.join(x for x in (e.get('reason'), e.get('detail')) if x)}")
    return "\n".join(lines)


def calls_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'STARTED':<20} {'ATTENDANCE':<30} {'DIRECTION':<9} {'ORIGIN':<9} {'QUEUE':<5} EVENTS"]
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["started_at"]))
        lines.append(f"{started:<20} {r['attendance']:<30} {r['direction']:<9} {r['origin']:<9} "
                     f"{r['queue'] or '-':<5} {r['events']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgectl", description="Manage a running Agent Edge through its /v1 API.")
    parser.add_argument("--url", help="admin API base URL (default: from EDGE_ADMIN_ADDR/EDGE_ADMIN_PORT)")
    parser.add_argument("--token-file", help="file holding the API token (default: EDGE_API_TOKEN, "
                                             "else <EDGE_DATA_DIR>/api_token)")
    parser.add_argument("--json", action="store_true", help="print JSON even where a table is shown")
    sub = parser.add_subparsers(dest="resource", required=True)
    for res in RESOURCES:
        rp = sub.add_parser(res.name, help=res.help)
        verbs = rp.add_subparsers(dest="verb", required=True)
        lp = verbs.add_parser("list", help=f"list {res.help}")
        for i in res.ids[:-1]:
            lp.add_argument(i)
        lp.set_defaults(run=lambda c, a, r=res: cmd_list(c, r, a))
        for verb, run, help_text in (("get", cmd_get, "show one"), ("set", cmd_set, "create, or change the "
                                     "options given"), ("delete", cmd_delete, "delete one")):
            vp = verbs.add_parser(verb, help=help_text)
            for i in res.ids:
                vp.add_argument(i)
            if verb == "set":
                for f in res.fields:
                    vp.add_argument(f.option, type=f.kind, help=f.help)
                if res.name in SECRETS:
                    vp.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
            if verb == "delete":
                vp.add_argument("--force", action="store_true", help="even while agents are in a call")
            vp.set_defaults(run=lambda c, a, r=res, fn=run: fn(c, r, a))
        if res.name == "agent":
            for action, (help_text, request) in AGENT_ACTIONS.items():
                ap = verbs.add_parser(action, help=help_text)
                ap.add_argument("org")
                ap.add_argument("ext")
                if action == "pause":
                    ap.add_argument("pause", help="pause name")
                if action == "dnd":
                    ap.add_argument("state", type=on_off, help="on|off")
                ap.set_defaults(run=lambda c, a, req=request: c.ok(*req(a)))
        if res.name == "org":
            for verb, tail in (("link", "PUT"), ("unlink", "DELETE")):
                kp = verbs.add_parser(verb, help=f"{'allow' if tail == 'PUT' else 'stop'} transfers to another org")
                kp.add_argument("org")
                kp.add_argument("target")
                kp.set_defaults(run=lambda c, a, m=tail: c.ok(m, f"/v1/orgs/{quote(a.org)}/links/{quote(a.target)}"))
            kp = verbs.add_parser("links", help="orgs this org may transfer to")
            kp.add_argument("org")
            kp.set_defaults(run=lambda c, a: c.ok("GET", f"/v1/orgs/{quote(a.org)}/links"))
    pp = sub.add_parser("presence", help="presence of every agent of an org")
    pp.add_argument("org")
    pp.set_defaults(run=lambda c, a: c.ok("GET", f"/v1/orgs/{quote(a.org)}/presence"), table=presence_table)
    sp = sub.add_parser("sessions", help="login sessions of every agent of an org")
    sp.add_argument("org")
    sp.set_defaults(run=lambda c, a: c.ok("GET", f"/v1/orgs/{quote(a.org)}/sessions"))
    hp = sub.add_parser("attendance", help="an attendance and its history, in order")
    hp.add_argument("attendance")
    hp.set_defaults(run=lambda c, a: c.ok("GET", f"/v1/attendances/{quote(a.attendance, safe='')}"),
                    table=history_table)
    cp = sub.add_parser("calls", help="an agent's recent calls, newest first")
    cp.add_argument("org")
    cp.add_argument("ext")
    cp.add_argument("--limit", type=int, default=20)
    cp.set_defaults(run=lambda c, a: c.ok("GET", agent_path(a, "calls") + f"?limit={a.limit}"), table=calls_table)
    tp = sub.add_parser("transfer-org", help="send an attendance's customer to another org's IVR")
    tp.add_argument("attendance")
    tp.add_argument("org", help="destination org")
    tp.set_defaults(run=lambda c, a: c.ok("POST", f"/v1/calls/{quote(a.attendance, safe='')}/transfer-org",
                                          {"org": a.org}))
    ts = sub.add_parser("transfer-status", help="how an inter-org transfer asked for with transfer-org went")
    ts.add_argument("attendance")
    ts.set_defaults(run=lambda c, a: c.ok("GET", f"/v1/calls/{quote(a.attendance, safe='')}/transfer-org"))
    dp = sub.add_parser("drain", help="drain this machine's edge (SIGTERM to ./edge run): no new calls or "
                                      "registrations, calls in progress finish (EDGE_DRAIN_SECONDS), then it stops")
    dp.add_argument("--no-wait", action="store_true", help="return at once instead of waiting for the stop")
    op = sub.add_parser("openapi", help="print the API's OpenAPI document")
    op.set_defaults(run=lambda c, a: c.ok("GET", "/v1/openapi.json"))
    return parser


def drain(settings: Settings, wait: bool) -> int:
    """Signals the launcher whose pid file is in the data dir (what a preStop hook runs)."""
    path = settings.data_dir / "run" / "edge.pid"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError) as e:
        print(f"edgectl: no running edge to drain ({path}: {e})", file=sys.stderr)
        return 1
    print(f"draining the edge (pid {pid})", flush=True)
    deadline = time.monotonic() + settings.drain_seconds + 30
    while wait and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("stopped")
            return 0
        time.sleep(0.5)
    return 0 if not wait else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    if args.resource == "drain":
        return drain(settings, not args.no_wait)
    try:
        client = Client(args.url or f"http://{settings.admin_addr}:{settings.admin_port}",
                        resolve_token(settings, args.token_file))
        result = args.run(client, args)
    except CliError as e:
        print(f"edgectl: {e}", file=sys.stderr)
        return 1
    table = getattr(args, "table", None)
    print(table(result) if table and not args.json else json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

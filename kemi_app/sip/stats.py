"""Kamailio's own statistics (transactions, replies, shared memory, connections, dialogs),
read through $stat() when /metrics is scraped. They live in shared memory, so any worker
sees the totals of all of them."""

from __future__ import annotations

import KSR

from kemi_app.metrics import Family

# (metric, kind, help, label name, {label value: Kamailio statistic}); "" label: no label.
STATS: tuple[tuple[str, str, str, str, dict[str, str]], ...] = (
    ("kamailio_requests_received", "counter", "SIP requests received", "", {"": "rcv_requests"}),
    ("kamailio_replies_received", "counter", "SIP replies received", "", {"": "rcv_replies"}),
    ("kamailio_requests_forwarded", "counter", "SIP requests forwarded statelessly or by tm", "",
     {"": "fwd_requests"}),
    ("kamailio_requests_dropped", "counter", "SIP requests dropped", "", {"": "drop_requests"}),
    ("kamailio_requests_bad", "counter", "SIP requests that failed to parse or be processed", "",
     {"": "err_requests"}),
    ("kamailio_transactions", "counter", "Transactions created", "type",
     {"UAS": "UAS_transactions", "UAC": "UAC_transactions"}),
    ("kamailio_transactions_completed", "counter", "Transactions completed, by final reply class", "class",
     {c: f"{c}_transactions" for c in ("2xx", "3xx", "4xx", "5xx", "6xx")}),
    ("kamailio_transactions_active", "gauge", "Transactions in progress", "", {"": "active_transactions"}),
    ("kamailio_transactions_inuse", "gauge", "Transactions in memory (in progress or waiting)", "",
     {"": "inuse_transactions"}),
    ("kamailio_tm_replies", "counter", "Replies handled by tm", "kind",
     {k: f"rpl_{k}" for k in ("received", "relayed", "generated", "sent", "absorbed")}),
    ("kamailio_sl_replies", "counter", "Stateless replies sent", "class",
     {"1xx": "1xx_replies", "200": "200_replies", "2xx": "2xx_replies", "3xx": "3xx_replies",
      "4xx": "4xx_replies", "5xx": "5xx_replies", "6xx": "6xx_replies"}),
    ("kamailio_shm_total_bytes", "gauge", "Shared memory size", "", {"": "total_size"}),
    ("kamailio_shm_used_bytes", "gauge", "Shared memory used, allocator overhead included", "",
     {"": "real_used_size"}),
    ("kamailio_shm_max_used_bytes", "gauge", "Highest shared memory use since start", "", {"": "max_used_size"}),
    ("kamailio_shm_free_bytes", "gauge", "Shared memory free", "", {"": "free_size"}),
    ("kamailio_shm_fragments", "gauge", "Shared memory fragments", "", {"": "fragments"}),
    ("kamailio_tcp_connections", "gauge", "Open TCP connections (WebSocket included)", "",
     {"": "current_opened_connections"}),
    ("kamailio_tcp_write_queue_bytes", "gauge", "Bytes waiting in TCP write queues", "",
     {"": "current_write_queue_size"}),
    ("kamailio_tcp_connect_failed", "counter", "Outgoing TCP connects that failed", "", {"": "connect_failed"}),
    ("kamailio_ws_connections", "gauge", "Open WebSocket connections", "", {"": "ws_current_connections"}),
    ("kamailio_ws_failed_handshakes", "counter", "WebSocket handshakes refused", "",
     {"": "ws_failed_handshakes"}),
    ("edge_calls_active", "gauge", "Calls in progress (answered dialogs)", "", {"": "active_dialogs"}),
    ("edge_calls_early", "gauge", "Calls ringing (early dialogs)", "", {"": "early_dialogs"}),
    ("kamailio_dialogs_processed", "counter", "Dialogs created", "", {"": "processed_dialogs"}),
    ("kamailio_dialogs_failed", "counter", "Dialogs that failed to set up", "", {"": "failed_dialogs"}),
    ("kamailio_dialogs_expired", "counter", "Dialogs ended by timeout (no BYE seen)", "", {"": "expired_dialogs"}),
)


def _stat(name: str) -> float:
    value = KSR.pv.get(f"$stat({name})")
    return float(value) if value is not None else 0.0


def kamailio_families() -> list[Family]:
    return [
        Family(
            name, help_text, kind, (label,) if label else (),
            tuple((((value,) if label else ()), _stat(stat)) for value, stat in by_label.items()),
        )
        for name, kind, help_text, label, by_label in STATS
    ]

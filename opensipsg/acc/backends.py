"""The acc backends' senders (what the spool hands each record to).

* :class:`DBSender` -- one row into ``acc``/``missed_calls`` (or the table an
  ``acc_db_request`` names) through :mod:`opensipsg.db`.
* :class:`AAASender` -- one Accounting-Request through
  :class:`opensipsg.aaa.radius.RadiusClient`.

Payloads are JSON-able dicts made by the acc module:
``{"table": name, "row": {column: value}}`` and
``{"attrs": [[name, value], ...]}``. A sender answers ``(outcome, error)``
with the outcomes of :mod:`opensipsg.acc.spool`.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from ..errors import DBError
from .spool import DELIVERED, REJECT, RETRY

log = logging.getLogger("opensipsg.acc")


class DBSender:
    def __init__(self, db: Any) -> None:
        self.db = db

    def __call__(self, payload: Any, created: float, attempts: int) -> tuple[str, str]:
        try:
            self.db.insert(payload["table"], payload["row"])
            return DELIVERED, ""
        except DBError as exc:
            error = str(exc)
        # the server answers but refuses the row (bad column, NULL in NOT NULL...):
        # retrying cannot help; unreachable or lost connections are retried
        try:
            self.db.ping()
        except DBError:
            return RETRY, error
        return REJECT, error


class AAASender:
    def __init__(self, client: Any, clock: Any = time.time) -> None:
        self.client = client
        self.clock = clock

    def __call__(self, payload: Any, created: float, attempts: int) -> tuple[str, str]:
        attrs = [(name, value) for name, value in payload["attrs"]]
        # RFC 2866 5.2: how long the record has been waiting to be sent
        delay = max(0, int(self.clock() - created))
        if self.client.has_attribute("Acct-Delay-Time"):
            attrs.append(("Acct-Delay-Time", delay))
        if self.client.send_accounting(attrs):
            return DELIVERED, ""
        return RETRY, "no RADIUS accounting server answered"


def aaa_encoding_error(client: Any, attrs: list[tuple[str, Any]]) -> str | None:
    """Why ``attrs`` cannot be encoded with the client's dictionary (None when they can).

    Checked before a record is spooled: a record that can never be encoded
    would otherwise wait at the head of the queue for ever.
    """
    from pyrad import packet as rpacket

    from ..aaa.radius import AAAError

    try:
        pkt = rpacket.AcctPacket(dict=client.dictionary, secret=b"-")
        client._fill(pkt, attrs)
        pkt.RequestPacket()
    except AAAError as exc:
        return str(exc)
    except Exception as exc:  # pyrad encoding errors
        return f"radius: cannot encode the record: {exc}"
    return None

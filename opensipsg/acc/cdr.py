"""CDRs from the acc table: one ``cdrs`` row per answered call.

OpenSIPS 1.6 acc writes transactions, not calls; the opensips-cp era turned
them into CDRs with a stored procedure run from cron. :func:`build_cdrs` does
the same job, portable over our SQLite and MySQL backends:

* every ``acc`` row with method INVITE and a 2xx sip_code that has no CDR
  yet (key: Call-ID, From tag, To tag) is a Start; re-INVITEs of the same
  dialog share the key, the earliest row wins;
* its Stop is the earliest BYE row with the same Call-ID whose tags equal
  the INVITE's in either orientation (the callee's BYE carries them swapped);
* the CDR: ``call_start_time`` = INVITE time, ``duration`` = BYE time -
  INVITE time (seconds, proxy clock), ``sip_call_id``/``sip_from_tag``/
  ``sip_to_tag``, ``created``; caller/callee columns (``src_username``,
  ``src_domain``, ``dst_username``, ``dst_domain``, ``dst_ousername``,
  ``src_ip``) are copied from acc extra columns when the table has them
  (``db_extra="src_user=$fU;src_domain=$fd;dst_user=$rU;dst_domain=$rd;src_ip=$si"``
  style names, or the cdrs names themselves).

A call whose BYE never arrives stays open until something writes its Stop:
the acc module's ``end_call()`` (dialog / RTP timeouts) does, as if a BYE had
been answered. Idempotent: ``cdrs``' unique key keeps a call from being
counted twice even when two builders race.

CLI helpers: :func:`cdr_show` and :func:`cdr_export_csv`
(``opensipsctl cdr show|export``).
"""
from __future__ import annotations

import csv
import time
from typing import Any, Iterable, TextIO

from ..db import db_to_time, time_to_db
from ..errors import DBError

CDR_COLUMNS = ("cdr_id", "src_username", "src_domain", "dst_username", "dst_domain", "dst_ousername",
               "call_start_time", "duration", "sip_call_id", "sip_from_tag", "sip_to_tag", "src_ip",
               "cost", "rated", "created")

# cdrs column <- acc extra columns that may hold it, first found wins
CALLER_COLUMNS: dict[str, tuple[str, ...]] = {
    "src_username": ("src_username", "src_user", "caller_id"),
    "src_domain": ("src_domain",),
    "dst_username": ("dst_username", "dst_user", "callee_id"),
    "dst_domain": ("dst_domain",),
    "dst_ousername": ("dst_ousername", "dst_ouser"),
    "src_ip": ("src_ip",),
}

BATCH = 400

DEFAULT_COLUMNS = {
    "acc_method_column": "method",
    "acc_from_tag_column": "from_tag",
    "acc_to_tag_column": "to_tag",
    "acc_callid_column": "callid",
    "acc_sip_code_column": "sip_code",
    "acc_time_column": "time",
}


def _has_column(db: Any, table: str, column: str) -> bool:
    if getattr(db, "dialect", "") == "sqlite":
        # SQLite takes a double-quoted unknown identifier for a string literal
        return any(row[1].lower() == column.lower()
                   for row in db.query(f"PRAGMA table_info({db.quote(table)})"))
    try:
        db.query(f"SELECT {db.quote(column)} FROM {db.quote(table)} WHERE 1 = 0")
        return True
    except DBError:
        return False


def caller_columns(db: Any, table: str) -> dict[str, str]:
    """cdrs column -> acc column for the caller/callee data the acc table has."""
    found: dict[str, str] = {}
    for target, candidates in CALLER_COLUMNS.items():
        for candidate in candidates:
            if _has_column(db, table, candidate):
                found[target] = candidate
                break
    return found


def pair_calls(invites: Iterable[dict[str, Any]], byes: Iterable[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """Pure pairing: [(invite, bye)] -- per (callid, from_tag, to_tag) the earliest
    INVITE, with the earliest BYE of the same call-id and the same tags in either
    orientation. Rows have keys callid, from_tag, to_tag, time (unix), id."""
    starts: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in invites:
        key = (row["callid"], row["from_tag"], row["to_tag"])
        old = starts.get(key)
        if old is None or (row["time"], row["id"]) < (old["time"], old["id"]):
            starts[key] = row
    stops: dict[tuple[str, frozenset[str]], dict[str, Any]] = {}
    for row in byes:
        key = (row["callid"], frozenset((row["from_tag"], row["to_tag"])))
        old = stops.get(key)
        if old is None or (row["time"], row["id"]) < (old["time"], old["id"]):
            stops[key] = row
    pairs = []
    for (callid, from_tag, to_tag), invite in starts.items():
        bye = stops.get((callid, frozenset((from_tag, to_tag))))
        if bye is not None:
            pairs.append((invite, bye))
    pairs.sort(key=lambda p: (p[0]["time"], p[0]["id"]))
    return pairs


def build_cdrs(db: Any, acc_table: str = "acc", cdr_table: str = "cdrs", columns: dict[str, str] | None = None,
               now: float | None = None) -> int:
    """Pair new INVITE/BYE rows of ``acc_table`` into ``cdr_table``; the number of CDRs written."""
    cols = dict(DEFAULT_COLUMNS)
    if columns:
        cols.update({k: v for k, v in columns.items() if k in cols})
    q = db.quote
    method, callid, ftag, ttag, code, when = (q(cols[k]) for k in (
        "acc_method_column", "acc_callid_column", "acc_from_tag_column", "acc_to_tag_column",
        "acc_sip_code_column", "acc_time_column"))
    extra = caller_columns(db, acc_table)
    extra_sql = "".join(f", i.{q(source)}" for source in extra.values())
    rows = db.query(
        f"SELECT i.id, i.{callid}, i.{ftag}, i.{ttag}, i.{when}{extra_sql} FROM {q(acc_table)} i "
        f"LEFT JOIN {q(cdr_table)} c ON c.sip_call_id = i.{callid} AND c.sip_from_tag = i.{ftag} "
        f"AND c.sip_to_tag = i.{ttag} "
        f"WHERE i.{method} = ? AND i.{code} LIKE ? AND c.cdr_id IS NULL ORDER BY i.id",
        ["INVITE", "2%"])
    invites = []
    for row in rows:
        item = {"id": row[0], "callid": row[1] or "", "from_tag": row[2] or "", "to_tag": row[3] or "",
                "time": db_to_time(row[4])}
        for offset, target in enumerate(extra):
            item[target] = row[5 + offset]
        invites.append(item)
    if not invites:
        return 0
    call_ids = sorted({i["callid"] for i in invites})
    byes = []
    for start in range(0, len(call_ids), BATCH):
        chunk = call_ids[start:start + BATCH]
        marks = ", ".join("?" * len(chunk))
        for row in db.query(
                f"SELECT id, {callid}, {ftag}, {ttag}, {when} FROM {q(acc_table)} "
                f"WHERE {method} = ? AND {callid} IN ({marks})", ["BYE", *chunk]):
            byes.append({"id": row[0], "callid": row[1] or "", "from_tag": row[2] or "",
                         "to_tag": row[3] or "", "time": db_to_time(row[4])})
    created = time_to_db(time.time() if now is None else now)
    written = 0
    for invite, bye in pair_calls(invites, byes):
        cdr = {
            "call_start_time": time_to_db(invite["time"]),
            "duration": max(0, int(bye["time"] - invite["time"])),
            "sip_call_id": invite["callid"],
            "sip_from_tag": invite["from_tag"],
            "sip_to_tag": invite["to_tag"],
            "created": created,
        }
        for target in extra:
            value = invite.get(target)
            if value is not None:
                cdr[target] = str(value)
        try:
            db.insert(cdr_table, cdr)
            written += 1
        except DBError:
            # a concurrent builder wrote it first (unique key); anything else shows up
            # again on the next run
            if not db.select(cdr_table, ["cdr_id"], {"sip_call_id": invite["callid"],
                                                     "sip_from_tag": invite["from_tag"],
                                                     "sip_to_tag": invite["to_tag"]}):
                raise
    return written


def cdr_show(db: Any, limit: int = 20, call_id: str | None = None, since: str | None = None,
             table: str = "cdrs") -> list[dict[str, Any]]:
    """The newest CDRs (call_start_time descending), optionally of one Call-ID or
    since a DATETIME text ('YYYY-MM-DD HH:MM:SS')."""
    clauses, values = [], []
    if call_id:
        clauses.append("sip_call_id = ?")
        values.append(call_id)
    if since:
        clauses.append("call_start_time >= ?")
        values.append(since)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    names = ", ".join(db.quote(c) for c in CDR_COLUMNS)
    sql = f"SELECT {names} FROM {db.quote(table)}{where} ORDER BY call_start_time DESC, cdr_id DESC LIMIT ?"
    rows = db.query(sql, [*values, int(limit)])
    return [_plain(dict(zip(CDR_COLUMNS, row))) for row in rows]


def cdr_export_csv(db: Any, out: TextIO, since: str | None = None, table: str = "cdrs") -> int:
    """Write every CDR (oldest first; optionally since a DATETIME text) as CSV with a
    header line; the number of CDRs written."""
    names = ", ".join(db.quote(c) for c in CDR_COLUMNS)
    sql = f"SELECT {names} FROM {db.quote(table)}"
    values: list[Any] = []
    if since:
        sql += " WHERE call_start_time >= ?"
        values.append(since)
    sql += " ORDER BY call_start_time, cdr_id"
    writer = csv.writer(out)
    writer.writerow(CDR_COLUMNS)
    count = 0
    for row in db.query(sql, values):
        writer.writerow(["" if v is None else _plain_value(v) for v in row])
        count += 1
    return count


def _plain_value(value: Any) -> Any:
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain_value(v) for k, v in row.items()}

"""``opensipsctl cdr show|export``: CDRs built from the acc table (opensipsg.acc.cdr).

    opensipsctl cdr show [-n COUNT] [--callid ID] [--since TIME]
        the newest CDRs (default 20), tab-separated with a header line;
        TIME is 'YYYY-MM-DD HH:MM:SS' (local time, as the table stores it)
    opensipsctl cdr export [--since TIME] [<file>]
        every CDR as CSV to <file> (default: standard output)

Both first pair the acc rows that have no CDR yet (what the proxy's
``cdr_interval`` job does), so the output is current even when the job is off.
"""
from __future__ import annotations

import sys
from typing import Any

from ..acc.cdr import CDR_COLUMNS, build_cdrs, cdr_export_csv, cdr_show


def run(ctl: Any, a: dict[str, Any]) -> int:
    db = ctl.db
    ctl.sql("cdrs", build_cdrs, db, ctl.config.get("ACC_TABLE") or "acc")
    since = a.get("--since")
    if a.get("show"):
        count = a.get("-n") or 20
        try:
            limit = int(count)
        except ValueError:
            ctl.fail(f"bad count {count!r}")
        rows = ctl.sql("cdrs", cdr_show, db, limit, a.get("--callid"), since)
        ctl.table(list(CDR_COLUMNS), rows)
        return 0
    target = a.get("<file>")
    if target and target != "-":
        try:
            with open(target, "w", newline="", encoding="utf-8") as out:
                count = ctl.sql("cdrs", cdr_export_csv, db, out, since)
        except OSError as exc:
            ctl.fail(f"cannot write {target}: {exc.strerror}")
        ctl.err.write(f"{count} CDR(s) written to {target}\n")
        return 0
    ctl.sql("cdrs", cdr_export_csv, db, getattr(ctl, "out", sys.stdout), since)
    return 0

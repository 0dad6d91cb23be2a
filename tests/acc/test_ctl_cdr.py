"""opensipsctl cdr show|export on an SQLite database."""
from __future__ import annotations

from opensipsg.ctl.main import main
from opensipsg.db import connect, time_to_db
from opensipsg.db.schema import create_database


def test_cdr_show_and_export(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "acc.db"
    db = connect(f"sqlite:///{path}")
    create_database(db, ["acc", "cdrs"])
    for method, ftag, ttag, when in (("INVITE", "a", "b", 1700000000), ("BYE", "b", "a", 1700000030)):
        db.insert("acc", {"method": method, "from_tag": ftag, "to_tag": ttag, "callid": "c1",
                          "sip_code": "200", "sip_reason": "OK", "time": time_to_db(when)})
    db.close()
    rc = tmp_path / "ctlrc"
    rc.write_text(f"DBURL=sqlite:///{path}\n")
    assert main(["-c", str(rc), "cdr", "show", "-n", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cdr_id\tsrc_username") and "\t30\tc1\ta\tb\t" in out[1]
    target = tmp_path / "cdrs.csv"
    assert main(["-c", str(rc), "cdr", "export", str(target)]) == 0
    lines = target.read_text().splitlines()
    assert len(lines) == 2 and ",30,c1,a,b," in lines[1]

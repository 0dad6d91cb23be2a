"""What each opensipsctl command does (1.6 scripts/opensipsctl*, opensipsdbctl).

Messages and exit codes follow 1.6 where it had them; differences, on purpose:
- errors go to stderr as ``ERROR: ...`` (1.6: ``** ERROR: ...`` on stdout when
  not on a terminal); ``INFO:``/``WARNING:`` lines go to stdout;
- an MI reply that is not 2xx exits 1 (1.6 always exited 0 after printing it);
- nothing prompts (1.6 asked "[Y|N]" before dumping all aliases and before
  touching ACLs of a non-local user): we proceed and say so;
- database tables print as ``mysql -B`` does (tab-separated, header line).
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import time
from typing import Any, NoReturn
from urllib.parse import quote

from .. import __version__
from ..errors import DBError
from ..mi.tree import MIReply
from .mi_client import MIConnectError, make_client

USERNAME_RE = r"[-a-zA-Z0-9&=\+\$,;\?/_\.\!~\*'\(\)]+"
AOR_RE = re.compile(rf"^{USERNAME_RE}@.*\..*")
URI_RE = re.compile(rf"^sips?:({USERNAME_RE}@)?.*\..*")
ALL_METHODS = "4294967295"


class CtlExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def ha1(user: str, domain: str, password: str) -> str:
    return md5(f"{user}:{domain}:{password}")


def ha1b(user: str, domain: str, password: str) -> str:
    return md5(f"{user}@{domain}:{domain}:{password}")


def now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def db_url(config: dict[str, str]) -> str | None:
    """The database URL from DBURL, or DBENGINE (MYSQL / SQLITE) and its variables."""
    if config.get("DBURL"):
        return config["DBURL"]
    engine = (config.get("DBENGINE") or "").strip().upper()
    if engine in ("SQLITE", "SQLITE3"):
        path = config.get("DB_PATH") or ""
        if not path:
            return None
        return "sqlite:///" + os.path.abspath(os.path.expanduser(path)).lstrip("/")
    if engine == "MYSQL":
        user = quote(config.get("DBRWUSER") or "opensips", safe="")
        password = quote(config.get("DBRWPW") or "", safe="")
        host = config.get("DBHOST") or "localhost"
        port = f":{config['DBPORT']}" if config.get("DBPORT") else ""
        return f"mysql://{user}:{password}@{host}{port}/{config.get('DBNAME') or 'opensips'}"
    return None


class Ctl:
    def __init__(self, config: dict[str, str], prog: str = "opensipsctl", out: Any = None, err: Any = None) -> None:
        self.config = config
        self.prog = prog
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._db: Any = None
        self._mi: Any = None

    # -- output -------------------------------------------------------------------
    def echo(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        self.echo(f"INFO: {text}")

    def warn(self, text: str) -> None:
        self.echo(f"WARNING: {text}")

    def error(self, text: str) -> None:
        self.err.write(f"ERROR: {text}\n")
        self.err.flush()

    def fail(self, text: str, code: int = 1) -> NoReturn:
        self.error(text)
        raise CtlExit(code)

    def table(self, columns: list[str], rows: list[Any]) -> None:
        """``mysql -B`` style: a header line, then tab-separated rows (NULL for None)."""
        self.echo("\t".join(columns))
        for row in rows:
            values = [row[c] for c in columns] if isinstance(row, dict) else list(row)
            self.echo("\t".join("NULL" if v is None else str(v) for v in values))

    # -- users --------------------------------------------------------------------
    def set_user(self, text: str) -> tuple[str, str]:
        user, _, domain = text.partition("@")
        domain = domain or self.config.get("SIP_DOMAIN", "")
        if not domain:
            self.fail("domain unknown: use usernames with domain or set default domain in SIP_DOMAIN")
        return user, domain

    def check_aor(self, text: str) -> None:
        if not AOR_RE.match(text):
            self.err.write(f"error: invalid AoR: {text}\n")
            raise CtlExit(1)

    def check_uri(self, text: str) -> None:
        if not URI_RE.match(text):
            self.err.write(f"error: invalid SIP URI: {text}\n")
            raise CtlExit(1)

    # -- database -----------------------------------------------------------------
    @property
    def db(self) -> Any:
        if self._db is None:
            url = db_url(self.config)
            if url is None:
                self.fail("This command requires a database engine - none was loaded "
                          "(set DBENGINE=MYSQL or DBENGINE=SQLITE with DB_PATH, or DBURL, in opensipsctlrc)", 255)
            from ..db import connect

            try:
                db = connect(url)
                db.ping()
            except DBError as exc:
                self.fail(f"cannot connect to the database: {_one_line(exc)}")
            self._db = db
        return self._db

    def sql(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except DBError as exc:
            self.fail(f"{what} - SQL Error: {_one_line(exc)}")

    def is_user(self, user: str, domain: str) -> bool:
        rows = self.sql("subscriber", self.db.select, "subscriber", ["username"], {"username": user, "domain": domain})
        return bool(rows)

    def close(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:
                pass

    # -- MI -------------------------------------------------------------------------
    def mi(self, command: str, args: list[str]) -> MIReply:
        try:
            if self._mi is None:
                self._mi = make_client(self.config)
            return self._mi.call(command, [str(a) for a in args])
        except MIConnectError as exc:
            for line in exc.lines:
                self.error(line)
            raise CtlExit(exc.exit_code) from None

    def mi_print(self, command: str, args: list[str]) -> int:
        """Run an MI command and print its reply as 1.6's filter_fl does (no
        "200 OK" first line, no empty lines); non-2xx -> exit status 1."""
        reply = self.mi(command, args)
        from ..mi.fifo_format import format_reply

        lines = format_reply(reply).split("\n")
        for index, line in enumerate(lines):
            if index == 0 and reply.code == 200:
                continue
            if line:
                self.echo(line)
        return 0 if reply.ok else 1

    def fifo(self, command: str, args: list[str]) -> int:
        return self.mi_print(command, args)

    # -- dispatch ---------------------------------------------------------------------
    def dispatch(self, a: dict[str, Any]) -> int:
        if a["start"] or a["stop"] or a["restart"]:
            from . import daemon
            return daemon.start(self) if a["start"] else daemon.stop(self) if a["stop"] else daemon.restart(self)
        if a["rpid"]:
            return self.rpid(a)
        if a["add"] and a["<password>"] is not None and not a["avp"]:
            return self.subscriber_add(a["<user>"], a["<password>"])
        if a["passwd"]:
            return self.subscriber_passwd(a["<user>"], a["<password>"])
        if a["alias_db"] or a["aliasdb"]:
            return self.alias_db(a)
        if a["ul"] or a["usrloc"] or a["alias"]:
            return self.usrloc(a)
        if a["rm"] and not any(a[k] for k in ("domain", "avp", "acl", "rpid")):
            return self.subscriber_rm(a["<user>"])
        if a["domain"]:
            return self.domain(a)
        if a["acl"]:
            return self.acl(a)
        if a["avp"]:
            return self.avp(a)
        if a["db"]:
            return self.db_ops(a)
        if a["monitor"] or a["console"] or a["moni"] or a["con"]:
            count = a["-n"] or a["<count>"]
            return self.monitor(int(count) if count is not None else -1)
        if a["ps"]:
            return self.mi_print("ps", [])
        if a["uptime"]:
            return self.mi_print("uptime", [])
        if a["online"]:
            return self.online()
        if a["version"]:
            self.echo(f"{self.prog} {__version__} (opensipsg; OpenSIPS 1.6 opensipsctl commands)")
            return 0
        if a["ping"]:
            return self.ping(a["<uri>"])
        if a["cdr"]:
            from .cdr import run
            return run(self, a)
        self.fail("unknown command")

    # -- subscribers --------------------------------------------------------------------
    def alias_exists(self, user: str, domain: str) -> bool:
        kind = (self.config.get("ALIASES_TYPE") or "").upper()
        if kind == "UL":
            reply = self.mi("ul_show_contact", [self.config.get("ALS_TABLE") or "aliases", f"{user}@{domain}"])
            if reply.code == 400:
                self.fail("400; check if you use aliases in OpenSIPS")
            return reply.ok
        if kind in ("DB", ""):
            try:
                rows = self.db.select("dbaliases", ["alias_username"],
                                      {"alias_username": user, "alias_domain": domain})
            except DBError:
                if kind == "DB":
                    raise
                return False  # no dbaliases table and aliases not asked for
            return bool(rows)
        return False

    def subscriber_add(self, who: str, password: str) -> int:
        user, domain = self.set_user(who)
        if self.is_user(user, domain):
            self.info(f"user '{who}' already exists")
            return 1
        if self.alias_exists(user, domain):
            self.info(f"user '{who}' already exists as alias")
            return 1
        plain = password if self.config.get("STORE_PLAINTEXT_PW", "1") == "1" else ""
        row = {"username": user, "domain": domain, "ha1": ha1(user, domain, password),
               "ha1b": ha1b(user, domain, password), "password": plain}
        try:
            self.db.insert("subscriber", row)
        except DBError as exc:
            self.fail(f"introducing the new user '{who}' to the database failed: {_one_line(exc)}")
        self.echo(f"new user '{who}' added")
        return 0

    def subscriber_passwd(self, who: str, password: str) -> int:
        user, domain = self.set_user(who)
        if not self.is_user(user, domain):
            self.fail(f"non-existent user '{who}'")
        plain = password if self.config.get("STORE_PLAINTEXT_PW", "1") == "1" else ""
        try:
            self.db.update("subscriber", {"ha1": ha1(user, domain, password), "ha1b": ha1b(user, domain, password),
                                          "password": plain}, {"username": user, "domain": domain})
        except DBError as exc:
            self.fail(f"password change failed: {_one_line(exc)}")
        self.info("password change succeeded")
        return 0

    def rpid(self, a: dict[str, Any]) -> int:
        """subscriber.rpid: add sets it, rm sets it to NULL, show prints it (1.6's rpid add|rm|show)."""
        who = a["<user>"]
        user, domain = self.set_user(who)
        where = {"username": user, "domain": domain}
        if a["show"]:
            rows = self.sql("rpid", self.db.select, "subscriber", ["rpid"], where)
            self.table(["rpid"], rows)
            return 0
        if not self.is_user(user, domain):
            self.fail(f"non-existent user '{who}'")
        value = a["<rpid>"] if a["add"] else None
        self.sql("rpid", self.db.update, "subscriber", {"rpid": value}, where)
        self.table(["rpid"], self.sql("rpid", self.db.select, "subscriber", ["rpid"], where))
        return 0

    def subscriber_rm(self, who: str) -> int:
        user, domain = self.set_user(who)
        if not self.is_user(user, domain):
            self.fail(f"non-existent user '{who}'")
        for table, where in (("grp", {"username": user, "domain": domain}),
                             ("dbaliases", {"username": user, "domain": domain})):
            try:
                self.db.delete(table, where)
            except DBError:
                pass  # 1.6 ignores these too (acl revoke > /dev/null)
        self.sql("subscriber", self.db.delete, "subscriber", {"username": user, "domain": domain})
        # and also all his contacts (1.6: `$0 ul rm $1 > /dev/null 2>&1`)
        try:
            if self._mi is None:
                self._mi = make_client(self.config)
            self._mi.call("ul_rm", [self.config.get("UL_TABLE") or "location", f"{user}@{domain}"])
        except MIConnectError:
            pass
        return 0

    # -- alias_db -------------------------------------------------------------------------
    def alias_db(self, a: dict[str, Any]) -> int:
        db = self.db
        if a["list"]:
            if a["<user>"]:
                self.check_aor(a["<user>"])
                user, domain = self.set_user(a["<user>"])
                self.echo(f"Dumping aliases for user=<{a['<user>']}>")
                self.echo()
                rows = self.sql("alias_db", db.select, "dbaliases", ["alias_username", "alias_domain"],
                                {"username": user, "domain": domain}, order_by="alias_username")
                self.table(["ALIAS"], [[f"{r['alias_username']}@{r['alias_domain']}"] for r in rows])
            else:
                self.echo("Dumping all aliases...")
                self.echo()
                columns = ["alias_username", "alias_domain", "username", "domain"]
                self.table(columns, self.sql("alias_db", db.select, "dbaliases", columns, order_by="alias_username"))
            return 0
        if a["show"]:
            self.check_aor(a["<alias>"])
            user, domain = self.set_user(a["<alias>"])
            rows = self.sql("alias_db", db.select, "dbaliases", ["username", "domain"],
                            {"alias_username": user, "alias_domain": domain})
            self.table(["SIP-ID"], [[f"{r['username']}@{r['domain']}"] for r in rows])
            return 0
        if a["add"]:
            self.check_aor(a["<alias>"])
            self.check_aor(a["<user>"])
            alias_user, alias_domain = self.set_user(a["<alias>"])
            user, domain = self.set_user(a["<user>"])
            if self.sql("alias_db", db.select, "dbaliases", ["username"],
                        {"alias_username": alias_user, "alias_domain": alias_domain}):
                self.info(f"{alias_user} alias already in dbaliases table")
                return 0
            self.sql("alias_db", db.insert, "dbaliases", {"username": user, "domain": domain,
                                                          "alias_username": alias_user, "alias_domain": alias_domain})
            return 0
        if a["rm"]:
            self.check_aor(a["<alias>"])
            alias_user, alias_domain = self.set_user(a["<alias>"])
            self.sql("alias_db", db.delete, "dbaliases", {"alias_username": alias_user, "alias_domain": alias_domain})
            return 0
        self.fail("alias_db - unknown command")

    # -- usrloc ----------------------------------------------------------------------------
    def usrloc(self, a: dict[str, Any]) -> int:
        # 1.6: `ul` and `usrloc` work on UL_TABLE (location); `alias` on ALS_TABLE
        # (aliases, the usrloc table of registrar aliases) and refuses names that
        # are subscribers.
        is_alias = bool(a["alias"])
        table = (self.config.get("ALS_TABLE") or "aliases") if is_alias else (self.config.get("UL_TABLE") or "location")
        if a["show"]:
            if a["--brief"]:
                return self.mi_print("ul_dump", ["brief"])
            if a["<user>"]:
                user, domain = self.set_user(a["<user>"])
                return self.mi_print("ul_show_contact", [table, f"{user}@{domain}"])
            return self.mi_print("ul_dump", [])
        if a["rm"]:
            user, domain = self.set_user(a["<user>"])
            if a["<contact>"]:
                if not URI_RE.match(a["<contact>"]):
                    self.fail(f"{a['<contact>']} is not a valid SIP URI (sip:[user@]domain)")
                return self.mi_print("ul_rm_contact", [table, f"{user}@{domain}", a["<contact>"]])
            return self.mi_print("ul_rm", [table, f"{user}@{domain}"])
        if a["add"]:
            expires = a["<expires>"] if a["<expires>"] is not None else "0"  # 0: permanent
            self.check_uri(a["<uri>"])
            user, domain = self.set_user(a["<user>"])
            if is_alias and db_url(self.config) and self.is_user(user, domain):
                self.fail("overlap of alias with an existing subscriber name")
            if (self.config.get("ALIASES_TYPE") or "").upper() in ("UL", "DB") and self.alias_exists(user, domain):
                if is_alias:
                    self.info("alias already defined")
                else:
                    self.error("AOR is an alias")
                return 1
            return self.mi_print("ul_add", [table, f"{user}@{domain}", a["<uri>"], expires, "1.00", "0", "0", "0",
                                            ALL_METHODS])
        self.fail("usrloc - unknown subcommand")

    def online(self) -> int:
        reply = self.mi("ul_dump", [])
        if not reply.ok:
            self.echo(f"{reply.code} {reply.reason}")
            return 1
        aors = sorted({node.value or "" for _, node in reply.walk() if (node.name or "").lower() == "aor"})
        for aor in aors:
            self.echo(aor)
        return 0

    # -- domain ------------------------------------------------------------------------------
    def domain(self, a: dict[str, Any]) -> int:
        if a["reload"]:
            return self.mi_print("domain_reload", [])
        if a["show"]:
            return self.mi_print("domain_dump", [])
        db = self.db
        if a["showdb"]:
            columns = ["domain", "last_modified"]
            self.table(columns, self.sql("domain", db.select, "domain", columns, order_by="domain"))
            return 0
        name = a["<domain>"]
        if a["add"]:
            if self.sql("domain", db.select, "domain", ["domain"], {"domain": name}):
                self.info(f"{name} already in domain table")
                return 0
            self.sql("domain", db.insert, "domain", {"domain": name, "last_modified": now_text()})
        else:
            self.sql("domain", db.delete, "domain", {"domain": name})
        self.info(f"execute '{self.prog} domain reload' to synchronize cache and database")
        return 0

    # -- acl -----------------------------------------------------------------------------------
    def acl_show(self, who: str | None) -> int:
        where: dict[str, Any] = {}
        if who:
            user, domain = self.set_user(who)
            if not self.is_user(user, domain):
                self.warn(f"Non-existent user '{who}': proceeding with non-local user")
            where = {"username": user, "domain": domain}
        columns = ["username", "domain", "grp", "last_modified"]
        self.table(columns, self.sql("acl", self.db.select, "grp", columns, where, order_by="username"))
        return 0

    def acl(self, a: dict[str, Any]) -> int:
        if a["show"]:
            return self.acl_show(a["<user>"])
        who = a["<user>"]
        user, domain = self.set_user(who)
        if a["grant"]:
            if not self.is_user(user, domain):
                self.warn(f"Non-existent user '{who}': proceeding with non-local user")
            allowed = (self.config.get("ACL_GROUPS") or "").split()
            inserted = False
            for group in a["<group>"]:
                if self.config.get("VERIFY_ACL", "1") == "1" and group not in allowed:
                    self.warn(f"Invalid privilege: acl '{group}' ignored")
                    continue
                self.sql("acl", self.db.insert, "grp", {"username": user, "domain": domain, "grp": group,
                                                        "last_modified": now_text()})
                inserted = True
            if inserted:
                return self.acl_show(f"{user}@{domain}")
            return 1
        where = {"username": user, "domain": domain}
        if a["<group>"]:
            where["grp"] = a["<group>"][0]
        self.sql("acl", self.db.delete, "grp", where)
        return self.acl_show(f"{user}@{domain}")

    # -- avp ---------------------------------------------------------------------------------------
    def _avp_where(self, a: dict[str, Any]) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if a["-u"]:
            if AOR_RE.match(a["-u"]):
                user, domain = self.set_user(a["-u"])
                where.update(username=user, domain=domain)
            else:
                where["uuid"] = a["-u"]
        if a["-a"]:
            where["attribute"] = a["-a"]
        if a["-v"]:
            where["value"] = a["-v"]
        if a["-t"]:
            where["type"] = a["-t"]
        return where

    def avp(self, a: dict[str, Any]) -> int:
        table = a["-T"] or "usr_preferences"
        db = self.db
        if a["list"]:
            columns = ["uuid", "username", "domain", "attribute", "type", "value"]
            rows = self.sql("avp list", db.select, table, columns, self._avp_where(a))
            self.echo("Dumping AVPs")
            self.echo()
            self.table(columns, rows)
            return 0
        if a["add"]:
            uuid = user = domain = ""
            if AOR_RE.match(a["<id>"]):
                user, domain = self.set_user(a["<id>"])
            else:
                uuid = a["<id>"]
            if not str(a["<type>"]).isdigit():
                self.fail("avp add - type must be a number (0 str:str, 1 str:int, 2 int:str, 3 int:int)")
            self.sql("avp add", db.insert, table, {"uuid": uuid, "username": user, "domain": domain,
                                                   "attribute": a["<attribute>"], "type": int(a["<type>"]),
                                                   "value": a["<value>"], "last_modified": now_text()})
            self.echo()
            self.echo("avp add - attribute added")
            return 0
        where = self._avp_where(a)
        self.sql("avp rm", db.delete, table, where)
        self.echo()
        self.echo("avp rm - AVP(s) deleted")
        return 0

    # -- db (opensipsdbctl create/drop/migrate; 1.6 opensipsctl db show/exec) ------------------------
    def db_ops(self, a: dict[str, Any]) -> int:
        from .dbadmin import DBAdmin

        admin = DBAdmin(self)
        if a["create"]:
            return admin.create(a["<dbname>"])
        if a["drop"]:
            return admin.drop(a["<dbname>"])
        if a["migrate"]:
            return admin.migrate(a["<dbname>"])
        if a["show"]:
            return admin.show(a["<table>"])
        return admin.exec(a["<query>"], read_only=bool(a["roexec"]))

    # -- monitor / ping -------------------------------------------------------------------------------
    def monitor(self, loops: int) -> int:
        period = float(self.config.get("WATCH_PERIOD") or 2)
        attempt = 0
        try:
            while loops != attempt:
                attempt += 1
                if self.out.isatty() if hasattr(self.out, "isatty") else False:
                    self.out.write("\033[H\033[2J")
                self.echo(f"[cycle #: {attempt}; if constant make sure server lives]")
                self.mi_print("version", [])
                self.mi_print("uptime", [])
                self.echo()
                self.echo("Transaction Statistics: ")
                self.mi_print("get_statistics", ["UAS_transactions", "UAC_transactions", "inuse_transactions"])
                self.echo()
                self.echo("Stateless Server Statistics: ")
                self.mi_print("get_statistics", ["sent_replies", "sent_err_replies", "received_ACKs"])
                self.echo()
                self.echo("UsrLoc Stats: ")
                self.mi_print("get_statistics", ["usrloc:"])
                if loops != attempt:
                    time.sleep(period)
        except KeyboardInterrupt:
            self.echo("monitor ^C-ed")
            return 1
        return 0

    def ping(self, uri: str) -> int:
        host = self.config.get("SIP_DOMAIN") or os.uname().nodename
        headers = f"From:sip:daemon@{host}\r\nTo:<{uri}>\r\nContact:sip:daemon@{host}\r\n"
        reply = self.mi("t_uac_dlg", ["OPTIONS", uri, ".", ".", headers])
        if not reply.ok:
            self.echo(f"{reply.code} {reply.reason}")
            return 1
        first = reply.children[0].value if reply.children else ""
        self.echo(first if first and re.match(r"^[1-6][0-9][0-9]", first) else "200 OK")
        return 0


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())

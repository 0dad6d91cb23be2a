"""opensipsctl - the OpenSIPS 1.6 control tool, for opensipsg.

Usage:
  opensipsctl [-c FILE] (start | stop | restart)
  opensipsctl [-c FILE] add <user> <password>
  opensipsctl [-c FILE] passwd <user> <password>
  opensipsctl [-c FILE] rm <user>
  opensipsctl [-c FILE] rpid add <user> <rpid>
  opensipsctl [-c FILE] rpid (rm | show) <user>
  opensipsctl [-c FILE] (alias_db | aliasdb) list [<user>]
  opensipsctl [-c FILE] (alias_db | aliasdb) show <alias>
  opensipsctl [-c FILE] (alias_db | aliasdb) add <alias> <user>
  opensipsctl [-c FILE] (alias_db | aliasdb) rm <alias>
  opensipsctl [-c FILE] (ul | usrloc | alias) show [--brief] [<user>]
  opensipsctl [-c FILE] (ul | usrloc | alias) rm <user> [<contact>]
  opensipsctl [-c FILE] (ul | usrloc | alias) add <user> <uri> [<expires>]
  opensipsctl [-c FILE] domain (show | showdb | reload)
  opensipsctl [-c FILE] domain (add | rm) <domain>
  opensipsctl [-c FILE] acl show [<user>]
  opensipsctl [-c FILE] acl grant <user> <group>...
  opensipsctl [-c FILE] acl revoke <user> [<group>]
  opensipsctl [-c FILE] avp list [-T TABLE] [-u ID] [-a ATTR] [-v VALUE] [-t TYPE]
  opensipsctl [-c FILE] avp add [-T TABLE] <id> <attribute> <type> <value>
  opensipsctl [-c FILE] avp rm [-T TABLE] [-u ID] [-a ATTR] [-v VALUE] [-t TYPE]
  opensipsctl [-c FILE] db (create | drop) [<dbname>]
  opensipsctl [-c FILE] db migrate [<dbname>]
  opensipsctl [-c FILE] db show <table>
  opensipsctl [-c FILE] db (exec | roexec) <query>
  opensipsctl [-c FILE] (monitor | console | moni | con) [-n COUNT] [<count>]
  opensipsctl [-c FILE] (ps | uptime | online | version)
  opensipsctl [-c FILE] ping <uri>
  opensipsctl [-c FILE] (fifo | unixsock) <command> [<arg>...]
  opensipsctl [-c FILE] cdr show [-n COUNT] [--callid ID] [--since TIME]
  opensipsctl [-c FILE] cdr export [--since TIME] [<file>]
  opensipsctl -h | --help

Options:
  -c FILE    Read this opensipsctlrc after the standard ones
             (/etc/opensipsg/opensipsctlrc, /usr/local/etc/opensips/opensipsctlrc,
             ~/.opensipsctlrc).
  -n COUNT   monitor: number of cycles (default: until Ctrl-C).
  -T TABLE   avp: table [default: usr_preferences].
  -u ID      avp: user (user@domain) or uuid.
  -a ATTR    avp: attribute name.
  -v VALUE   avp: value.
  -t TYPE    avp: type (0 str:str, 1 str:int, 2 int:str, 3 int:int).
  --brief    ul show: AORs only.
  --callid ID   cdr show: only the CDRs of this Call-ID.
  --since TIME  cdr: calls started since 'YYYY-MM-DD HH:MM:SS'.
  -h --help  This text.

start/stop/restart run the server with -P PID_FILE (and -E unless SYSLOG=1)
plus STARTOPTIONS (e.g. "-f /etc/opensipsg/opensipsg.cfg"), OSIPSBIN if set.
Commands marked with a database need DBENGINE (MYSQL or SQLITE with DB_PATH)
or DBURL in opensipsctlrc; MI commands use MI_CONNECTOR / CTLENGINE (FIFO:
OSIPS_FIFO, JSON: MI_JSON_URL). `fifo <command> [args]` sends any MI command.
"""
from __future__ import annotations

import os
import sys

from docopt import DocoptExit, docopt

from . import rc
from .commands import Ctl, CtlExit


def _split_fifo(argv: list[str]) -> list[str] | None:
    """`fifo`/`unixsock` arguments go to MI untouched (they may start with '-')."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "-c":
            index += 2
            continue
        if word.startswith("-c") and len(word) > 2:
            index += 1
            continue
        if word in ("fifo", "unixsock"):
            return argv[index + 1:]
        return None
    return None


def _config_file(argv: list[str]) -> str | None:
    for index, word in enumerate(argv):
        if word == "-c" and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith("-c") and len(word) > 2 and word[2:3] != "-":
            return word[2:]
        if not word.startswith("-"):
            return None
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "opensipsctl"
    if prog.endswith(".py") or prog in ("-c", "-m", ""):
        prog = "opensipsctl"
    try:
        config = rc.load(_config_file(argv))
    except OSError as exc:
        sys.stderr.write(f"ERROR: cannot read {exc.filename}: {exc.strerror}\n")
        return 1
    ctl = Ctl(config, prog=prog)
    try:
        raw = _split_fifo(argv)
        if raw is not None:
            if not raw:
                ctl.error("fifo_cmd must take at least command name as parameter")
                return 1
            return ctl.fifo(raw[0], raw[1:])
        try:
            args = docopt(__doc__, argv=argv, help=True, version=None)
        except DocoptExit:
            sys.stdout.write(__doc__.split("Options:")[0].replace("Usage:", "Existing commands:", 1))
            return 1
        return ctl.dispatch(args)
    except CtlExit as exc:
        return exc.code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    finally:
        ctl.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

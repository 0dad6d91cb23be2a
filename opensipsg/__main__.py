"""The opensipsg daemon: OpenSIPS's command line, then load the script and serve.

gevent's monkey-patching happens first, before anything imports socket or time
(the CLI tools never import this module).
"""
from gevent import monkey

monkey.patch_all()

import getopt  # noqa: E402
import grp  # noqa: E402
import logging  # noqa: E402
import logging.handlers  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

from . import SERVER_NAME, __version__  # noqa: E402
from .errors import ConfigError, ScriptError  # noqa: E402

DEFAULT_CFG = "/etc/opensipsg/opensipsg.cfg"

USAGE = f"""{SERVER_NAME} {__version__} - a SIP proxy/registrar speaking the OpenSIPS 1.6 script
Usage: {SERVER_NAME} [options]
Options:
    -f file     Configuration file (default: {DEFAULT_CFG})
    -c          Check configuration file for errors and exit
    -C          Like -c (function/route-type checks always run)
    -l address  Listen on the specified address ([proto:]addr[:port]); repeatable
    -n processes  Accepted for compatibility (one process serves everything)
    -D          Do not fork into daemon mode
    -E          Log to stderr
    -d          Debugging mode (repeat to raise the level)
    -T          Disable TCP
    -P file     Create a pid file
    -G file     Create a pgid file
    -u uid      Change uid after binding
    -g gid      Change gid after binding
    -w dir      Change the working directory
    -V          Version number
    -h          This help message
"""

# OpenSIPS debug levels -> logging levels
LEVELS = {-3: logging.CRITICAL, -2: logging.CRITICAL, -1: logging.ERROR, 0: logging.WARNING,
          1: logging.WARNING, 2: logging.INFO, 3: logging.INFO, 4: logging.DEBUG}


def log_level(debug: int) -> int:
    return LEVELS.get(max(-3, min(4, debug)), logging.DEBUG)


def setup_logging(to_stderr: bool, debug: int, facility: str, name: str) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if not to_stderr and not os.path.exists("/dev/log"):
        to_stderr = True  # no syslog daemon here: stderr is better than losing every line
    if to_stderr:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"%(asctime)s {name}[%(process)d]: %(levelname)s: %(message)s"))
    else:
        code = logging.handlers.SysLogHandler.facility_names.get(
            facility.lower().replace("log_", ""), logging.handlers.SysLogHandler.LOG_DAEMON)
        handler = logging.handlers.SysLogHandler(address="/dev/log", facility=code)
        handler.setFormatter(logging.Formatter(f"{name}[%(process)d]: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(log_level(debug))


def daemonize() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)


def drop_privileges(user: str | None, group: str | None) -> None:
    if group:
        gid = int(group) if str(group).isdigit() else grp.getgrnam(str(group)).gr_gid
        os.setgroups([])
        os.setgid(gid)
    if user:
        uid = int(user) if str(user).isdigit() else pwd.getpwnam(str(user)).pw_uid
        os.setuid(uid)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        opts, rest = getopt.getopt(argv, "f:cCl:n:DETdP:G:u:g:w:VhN:m:b:rRvt:W:")
    except getopt.GetoptError as exc:
        sys.stderr.write(f"{exc}\n{USAGE}")
        return 1
    if rest:
        sys.stderr.write(f"unexpected arguments: {' '.join(rest)}\n{USAGE}")
        return 1
    cfg = DEFAULT_CFG
    check = False
    no_fork = False
    to_stderr = False
    extra_debug = 0
    listen: list[str] = []
    pidfile = pgidfile = user = group = workdir = None
    disable_tcp = False
    for flag, value in opts:
        if flag == "-f":
            cfg = value
        elif flag in ("-c", "-C"):
            check = True
        elif flag == "-l":
            listen.append(value)
        elif flag == "-D":
            no_fork = True
        elif flag == "-E":
            to_stderr = True
        elif flag == "-d":
            extra_debug += 1
        elif flag == "-T":
            disable_tcp = True
        elif flag == "-P":
            pidfile = value
        elif flag == "-G":
            pgidfile = value
        elif flag == "-u":
            user = value
        elif flag == "-g":
            group = value
        elif flag == "-w":
            workdir = value
        elif flag == "-V":
            sys.stdout.write(f"version: {SERVER_NAME} {__version__} (OpenSIPS 1.6 compatible)\n")
            return 0
        elif flag == "-h":
            sys.stdout.write(USAGE)
            return 0

    from .core import Core

    if check:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s: %(message)s")
    try:
        core = Core.load(cfg, extra_listen=listen)
    except ScriptError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except (ConfigError, OSError) as exc:
        sys.stderr.write(f"{cfg}: {exc}\n")
        return 1
    if check:
        sys.stderr.write("config file ok, exiting...\n")
        return 0
    if disable_tcp:
        core.listeners = [l for l in core.listeners if l.proto != "tcp"]
    params = core.params
    to_stderr = to_stderr or params.log_stderror
    setup_logging(to_stderr, params.debug + extra_debug, params.log_facility, params.log_name)
    log = logging.getLogger("opensipsg")
    try:
        core.bind()
    except ConfigError as exc:
        log.critical("%s", exc)
        sys.stderr.write(f"{exc}\n")
        return 1
    if params.fork and not no_fork:
        daemonize()
        if not to_stderr:
            setup_logging(False, params.debug + extra_debug, params.log_facility, params.log_name)
        from gevent import reinit

        reinit()
    if workdir:
        os.chdir(workdir)
    for path, value in ((pidfile, os.getpid()), (pgidfile, os.getpgrp())):
        if path:
            with open(path, "w") as handle:
                handle.write(f"{value}\n")
    import gevent

    # the hub and signal handlers first: they import what they need while we may still read it
    stopping = gevent.event.Event()

    def on_signal() -> None:
        stopping.set()

    gevent.signal_handler(signal.SIGTERM, on_signal)
    gevent.signal_handler(signal.SIGINT, on_signal)
    gevent.signal_handler(signal.SIGHUP, lambda: None)
    try:
        drop_privileges(user or params.user, group or params.group)
    except (KeyError, PermissionError) as exc:
        log.critical("cannot change user/group: %s", exc)
        return 1
    core.start()
    # everything loaded so far lives as long as the process: keep the cyclic
    # garbage collector from walking it again and again (measured: ~20% CPU per message)
    from .runtime import settle_heap

    settle_heap()
    log.info("%s %s started", SERVER_NAME, __version__)
    profile_to = os.environ.get("OPENSIPSG_PROFILE")  # developers: cProfile output file
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        stopping.wait()
        profiler.disable()
        profiler.dump_stats(profile_to)
    else:
        stopping.wait()
    log.info("shutting down")
    core.stop()
    if pidfile:
        try:
            os.unlink(pidfile)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

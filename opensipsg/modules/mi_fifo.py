"""mi_fifo -- the management interface over a named pipe (OpenSIPS 1.6).

Overview
    Creates the FIFO ``fifo_name`` and serves MI requests written into it in
    1.6's text format (see opensipsg/mi/fifo_format.py)::

        :command:reply_fifo
        arg1
        arg2
        <empty line>

    The reply goes to ``reply_dir`` + ``reply_fifo`` (a FIFO the client made).
    With an empty reply name (``:command:``) the command runs and nothing is
    written back. (1.6 itself skips such a command unless it is asynchronous;
    running it is what later releases do and what scripts expect.)

    The reader is one greenlet: the FIFO is opened O_RDWR|O_NONBLOCK (so it
    never sees end-of-file when writers come and go) and waits on the hub
    with gevent's ``wait_read``. Each request runs in a greenlet of its own,
    so a slow command does not hold up the others. Replies are written
    non-blocking with bounded waits: a client that has gone away costs at most
    4 x 80 ms to open (1.6's FIFO_REPLY_RETRIES/WAIT) and ``reply_timeout``
    seconds to write, never a stuck server.

    Pain points handled (OpenSIPS/opensips#235, opensips-cli#83/#118):
    - the FIFO vanishing (tmp cleaners): its inode is checked every
      ``check_interval`` seconds and the FIFO re-created when it is gone or
      replaced;
    - a stale FIFO from an earlier run is removed at start-up;
    - Linux ``fs.protected_fifos`` refuses O_CREAT opens of a FIFO that
      someone else owns in a sticky world-writable directory such as /tmp:
      the server opens the client's reply FIFO without O_CREAT, and our
      opensipsctl opens the server FIFO without O_CREAT too (a shell
      ``printf ... > /tmp/opensips_fifo`` as another user fails there). Put the
      FIFO in a non-sticky directory owned by the server's user
      (e.g. /run/opensipsg/) and use fifo_group/fifo_mode to let operators in;
    - reply FIFO names with '.', '/' or '\\' are refused (as 1.6), and a reply
      FIFO that is not a FIFO, is hard-linked or is a symbolic link is not
      written (fifo_fnc.c mi_fifo_check).

Dependencies
    None.

Parameters
    fifo_name (str, "/tmp/opensips_fifo"), fifo_mode (int, 0660),
    fifo_group (str, group name or gid), fifo_user (str, user name or uid),
    reply_dir (str, "/tmp/"), reply_indent (str, "\\t").

Functions
    None.

MI commands
    None of its own; it carries every MI command (core and modules).

Example
    loadmodule "mi_fifo.so"
    modparam("mi_fifo", "fifo_name", "/tmp/opensips_fifo")
    modparam("mi_fifo", "fifo_mode", 0666)
"""
from __future__ import annotations

import errno
import grp
import logging
import os
import pwd
import re
import stat
import time
from typing import Any

from ..registry import Module, Param, register_module

log = logging.getLogger(__name__)

FIFO_REPLY_RETRIES = 4
FIFO_REPLY_WAIT = 0.08  # seconds
MAX_REQUEST = 1 << 20  # a request larger than this is dropped
_END_OF_REQUEST = re.compile(rb"\n\r?\n")


def _octal_mode(value: Any) -> int:
    """fifo_mode as written in the script: 432 (=0660 read as C octal) or "0660"."""
    if isinstance(value, str):
        text = value.strip()
        return int(text, 8) if text.startswith("0") else int(text)
    return int(value)


def _resolve_uid(value: Any) -> int:
    if value in (None, ""):
        return -1
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else pwd.getpwnam(text).pw_uid


def _resolve_gid(value: Any) -> int:
    if value in (None, ""):
        return -1
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else grp.getgrnam(text).gr_gid


@register_module
class MIFifoModule(Module):
    name = "mi_fifo"
    params = {
        "fifo_name": Param(str, "/tmp/opensips_fifo"),
        "fifo_mode": Param(int, 0o660),
        "fifo_group": Param(str, ""),
        "fifo_user": Param(str, ""),
        "reply_dir": Param(str, "/tmp/"),
        "reply_indent": Param(str, "\t"),
    }

    check_interval = 2.0  # seconds between checks that the FIFO is still ours
    reply_timeout = 5.0  # seconds a reply may take to write

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None
        self._reader: Any = None
        self._workers: Any = None
        self.uid = -1
        self.gid = -1
        self.mode = 0o660

    def init(self) -> None:
        if not self.fifo_name:
            raise ValueError("mi_fifo: no fifo configured")
        if not self.reply_dir:
            raise ValueError("mi_fifo: reply_dir parameter is empty")
        if not os.path.isdir(self.reply_dir):
            raise ValueError(f"mi_fifo: reply_dir {self.reply_dir} is not a directory")
        self.mode = _octal_mode(self.fifo_mode)
        if not self.mode:
            log.warning("mi_fifo: cannot specify fifo_mode = 0, forcing it to rw-------")
            self.mode = 0o600
        try:
            self.uid = _resolve_uid(self.fifo_user)
            if self.fifo_user and self.gid == -1 and not str(self.fifo_user).isdigit():
                self.gid = pwd.getpwnam(str(self.fifo_user)).pw_gid
            if self.fifo_group:
                self.gid = _resolve_gid(self.fifo_group)
        except KeyError as exc:
            raise ValueError(f"mi_fifo: bad user/group name {exc}") from None

    # -- the FIFO ----------------------------------------------------------------
    def _create(self) -> None:
        path = self.fifo_name
        try:
            os.lstat(path)
            os.unlink(path)  # stale FIFO (or anything else) from an earlier run
        except FileNotFoundError:
            pass
        os.mkfifo(path, self.mode)
        os.chmod(path, self.mode)  # mkfifo's mode is cut by the umask
        if self.uid != -1 or self.gid != -1:
            os.chown(path, self.uid, self.gid)
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        st = os.fstat(fd)
        self._fd = fd
        self._inode = (st.st_dev, st.st_ino)
        log.info("mi_fifo: FIFO %s created (mode %o)", path, self.mode)

    def _still_ours(self) -> bool:
        try:
            st = os.stat(self.fifo_name)
        except OSError:
            return False
        return stat.S_ISFIFO(st.st_mode) and (st.st_dev, st.st_ino) == self._inode

    def _close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    # -- life cycle ----------------------------------------------------------------
    def start(self) -> None:
        import gevent
        from gevent.pool import Pool

        self._create()
        self._workers = Pool(32)
        self._reader = gevent.spawn(self._serve)
        self._reader.link_exception(lambda g: log.critical("mi_fifo: reader died: %r", g.exception))

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.kill(block=False)
            self._reader = None
        if self._workers is not None:
            self._workers.kill(block=True, timeout=1)
            self._workers = None
        ours = self._still_ours()
        self._close()
        if ours:
            try:
                os.unlink(self.fifo_name)
            except OSError as exc:
                log.error("mi_fifo: cannot delete the fifo %s: %s", self.fifo_name, exc)

    # -- reading -----------------------------------------------------------------
    def _serve(self) -> None:
        from gevent.socket import wait_read

        pending = b""
        while True:
            if self._fd is None or not self._still_ours():
                if self._fd is not None:
                    log.warning("mi_fifo: FIFO %s disappeared or was replaced: re-creating it", self.fifo_name)
                self._close()
                try:
                    self._create()
                except OSError as exc:
                    log.error("mi_fifo: cannot create FIFO %s: %s", self.fifo_name, exc)
                    import gevent

                    gevent.sleep(self.check_interval)
                    continue
                pending = b""
            try:
                wait_read(self._fd, timeout=self.check_interval)
            except Exception:  # socket.timeout: time to check the FIFO again
                continue
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            except OSError as exc:
                log.error("mi_fifo: read failed: %s", exc)
                self._close()
                continue
            if not data:
                continue
            pending += data
            pending = self._take_requests(pending)

    def _take_requests(self, pending: bytes) -> bytes:
        """Hand every complete request (up to an empty line) to a worker; keep the rest."""
        while True:
            pending = pending.lstrip(b"\r\n")  # empty lines before a command are skipped
            match = _END_OF_REQUEST.search(pending)
            if match is None:
                if len(pending) > MAX_REQUEST:
                    log.error("mi_fifo: request longer than %d bytes dropped", MAX_REQUEST)
                    return b""
                return pending
            request, pending = pending[:match.end()], pending[match.end():]
            self._workers.spawn(self._handle, request.decode("utf-8", "replace"))

    # -- running -------------------------------------------------------------------
    def _handle(self, text: str) -> None:
        from ..mi import format_reply, run
        from ..mi.fifo_format import RequestError, parse_request

        try:
            request = parse_request(text)
        except RequestError as exc:
            log.error("mi_fifo: %s", exc)
            if exc.command and exc.reply_fifo:
                self._write_reply(exc.reply_fifo, f"400 parse error in command '{exc.command}'\n")
            return
        reply = run(self.core, request.command, list(request.args))
        if request.reply_fifo is None:
            log.debug("mi_fifo: %s run without a reply FIFO (%d %s)", request.command, reply.code, reply.reason)
            return
        self._write_reply(request.reply_fifo, format_reply(reply, self.reply_indent))

    def _reply_path(self, name: str) -> str:
        return os.path.join(self.reply_dir, name)

    def _write_reply(self, name: str, text: str) -> None:
        import gevent
        from gevent.socket import wait_write

        path = self._reply_path(name)
        fd = -1
        for attempt in range(FIFO_REPLY_RETRIES + 1):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as exc:
                if exc.errno == errno.ENXIO and attempt < FIFO_REPLY_RETRIES:
                    gevent.sleep(FIFO_REPLY_WAIT)  # the client has not opened it for reading yet
                    continue
                if exc.errno == errno.ENXIO:
                    log.error("mi_fifo: no client at %s", path)
                else:
                    log.error("mi_fifo: open error (%s): %s", path, exc.strerror)
                return
        try:
            if not _safe_reply_fifo(fd, path):
                return
            data = text.encode("utf-8", "replace")
            deadline = time.monotonic() + self.reply_timeout
            while data:
                try:
                    written = os.write(fd, data)
                    data = data[written:]
                    continue
                except BlockingIOError:
                    pass
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.error("mi_fifo: reply to %s not taken within %.0f s: dropped", path, self.reply_timeout)
                    break
                try:
                    wait_write(fd, timeout=remaining)
                except Exception:  # socket.timeout
                    pass
        except OSError as exc:  # EPIPE: the client went away
            log.error("mi_fifo: write error (%s): %s", path, exc.strerror)
        finally:
            _close_now(fd)


def _close_now(fd: int) -> None:
    """Close at once. gevent's patched os.close defers the close to the next turn
    of the event loop, which may sleep until its next timer (seconds): the client
    would wait that long for end-of-file. No watcher is left on a reply fd."""
    try:
        from gevent import monkey

        closer = monkey.get_original("os", "close")
    except Exception:  # not patched / no gevent
        closer = os.close
    closer(fd)


def _safe_reply_fifo(fd: int, path: str) -> bool:
    """fifo_fnc.c mi_fifo_check: a FIFO, not hard-linked, not a symbolic link, same inode."""
    st = os.fstat(fd)
    if not stat.S_ISFIFO(st.st_mode):
        log.error("mi_fifo: %s is not a fifo", path)
        return False
    if st.st_nlink > 1:
        log.error("mi_fifo: security: %s is hard-linked %d times", path, st.st_nlink)
        return False
    try:
        lst = os.lstat(path)
    except OSError as exc:
        log.error("mi_fifo: lstat failed: %s", exc)
        return False
    if stat.S_ISLNK(lst.st_mode):
        log.error("mi_fifo: security: %s is a soft link", path)
        return False
    if (lst.st_dev, lst.st_ino) != (st.st_dev, st.st_ino):
        log.error("mi_fifo: security: inode/dev number differ for %s", path)
        return False
    return True

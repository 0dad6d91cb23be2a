"""MI clients for opensipsctl: the 1.6 FIFO protocol and JSON-RPC over HTTP.

Both return an :class:`~opensipsg.mi.tree.MIReply` and raise
:class:`MIConnectError` (with a one-line message) when the server cannot be
reached. Synchronous; no gevent.

FIFO mechanics (1.6 ``opensipsctl.fifo``, made safe):
- the reply FIFO is ``<FIFO_REPLY_DIR>/opensips_receiver_<pid>`` (mi_fifo refuses
  names with dots), world-writable so a server running as another user can
  answer;
- we open our reply FIFO for reading *and* hold a writer on it until the first
  bytes arrive, so neither side blocks or sees a premature end-of-file;
- the server FIFO is opened O_WRONLY|O_NONBLOCK without O_CREAT: no hang when
  no server reads it (ENXIO), and no clash with Linux ``fs.protected_fifos``,
  which refuses O_CREAT opens (a shell ``>``) of a FIFO someone else owns in /tmp;
- every wait is bounded by ``timeout``.
"""
from __future__ import annotations

import errno
import json
import os
import select
import time
import urllib.error
import urllib.request

from ..mi.fifo_format import format_request, parse_reply
from ..mi.tree import MIReply

PIPE_BUF = 4096


class MIConnectError(Exception):
    """The MI server could not be reached; ``lines`` are what to tell the user."""

    def __init__(self, *lines: str, exit_code: int = 2) -> None:
        super().__init__(lines[0] if lines else "MI error")
        self.lines = lines
        self.exit_code = exit_code


class FifoClient:
    def __init__(self, fifo: str, reply_dir: str = "/tmp/", timeout: float = 10.0) -> None:
        self.fifo = fifo
        self.reply_dir = reply_dir or "/tmp/"
        self.timeout = timeout

    def _not_there(self, why: str) -> MIConnectError:
        return MIConnectError(
            f"Error opening OpenSIPS's FIFO {self.fifo}: {why}",
            f"Make sure you have the line 'modparam(\"mi_fifo\", \"fifo_name\", \"{self.fifo}\")' in your config",
            "and also have loaded the mi_fifo module.",
        )

    def call_text(self, command: str, args: list[str]) -> str:
        """Send one request; the raw reply text."""
        name = f"opensips_receiver_{os.getpid()}"
        path = os.path.join(self.reply_dir, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise MIConnectError(f"cannot remove stale reply FIFO {path}: {exc.strerror}", exit_code=3) from None
        try:
            os.mkfifo(path, 0o600)
            os.chmod(path, 0o622)  # the server (maybe another user) writes, we read
        except OSError as exc:
            raise MIConnectError(f"error opening read fifo {path}: {exc.strerror}", exit_code=3) from None
        read_fd = keep_fd = server_fd = -1
        try:
            read_fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            keep_fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            try:
                server_fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                raise self._not_there("no such file") from None
            except OSError as exc:
                if exc.errno == errno.ENXIO:
                    raise self._not_there("nobody reads it (is opensipsg running?)") from None
                if exc.errno == errno.EACCES:
                    raise MIConnectError(
                        f"Error opening OpenSIPS's FIFO {self.fifo}: permission denied",
                        "check its owner and mode (mi_fifo fifo_user/fifo_group/fifo_mode); in a sticky "
                        "directory such as /tmp, Linux fs.protected_fifos also refuses FIFOs of other users",
                    ) from None
                raise self._not_there(exc.strerror or str(exc)) from None
            request = format_request(command, args, name).encode()
            deadline = time.monotonic() + self.timeout
            self._write_all(server_fd, request, deadline)
            os.close(server_fd)
            server_fd = -1
            return self._read_reply(read_fd, keep_fd, deadline, command)
        finally:
            for fd in (read_fd, keep_fd, server_fd):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            try:
                os.unlink(path)
            except OSError:
                pass

    def _write_all(self, fd: int, data: bytes, deadline: float) -> None:
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MIConnectError(f"timed out writing to {self.fifo}")
            select.select([], [fd], [], remaining)
            try:
                written = os.write(fd, data[:PIPE_BUF])
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise self._not_there("the server went away") from None
            data = data[written:]

    def _read_reply(self, read_fd: int, keep_fd: int, deadline: float, command: str) -> str:
        chunks: list[bytes] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MIConnectError(f"no reply from OpenSIPS to '{command}' within {self.timeout:g} s "
                                     f"(is mi_fifo's reply_dir {self.reply_dir}?)", exit_code=3)
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            try:
                data = os.read(read_fd, 65536)
            except BlockingIOError:
                continue
            if data:
                chunks.append(data)
                if keep_fd >= 0:
                    os.close(keep_fd)  # from now on, end-of-file means the server is done
                    keep_fd = -1
                continue
            if keep_fd < 0:
                return b"".join(chunks).decode("utf-8", "replace")
            time.sleep(0.01)

    def call(self, command: str, args: list[str]) -> MIReply:
        return parse_reply(self.call_text(command, args))


class JsonClient:
    """JSON-RPC 2.0 to opensipsg's mi_json module."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._id = 0

    def call(self, command: str, args: list[str]) -> MIReply:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "method": command, "params": list(args), "id": self._id}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise MIConnectError(f"MI JSON server at {self.url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise MIConnectError(f"cannot reach the MI JSON server at {self.url}: {reason}") from None
        except ValueError:
            raise MIConnectError(f"MI JSON server at {self.url} sent something that is not JSON") from None
        if "result" in answer:
            return MIReply.from_dict(answer["result"])
        err = answer.get("error") or {}
        code = int(err.get("code", 500))
        message = str(err.get("message", "error"))
        if code < 100:  # JSON-RPC's own negative codes
            return MIReply(code=500, reason=message, terminated=False)
        return MIReply(code=code, reason=message)


def make_client(config: dict[str, str]) -> FifoClient | JsonClient:
    """From MI_CONNECTOR (``FIFO:/path``, ``JSON:host:port``, ``JSON:http://...``) or CTLENGINE."""
    timeout = float(config.get("MI_TIMEOUT") or 10)
    connector = (config.get("MI_CONNECTOR") or "").strip()
    engine = (config.get("CTLENGINE") or "FIFO").strip().upper()
    if connector:
        kind, _, where = connector.partition(":")
        kind = kind.strip().upper()
        if kind == "FIFO":
            return FifoClient(where or config["OSIPS_FIFO"], config.get("FIFO_REPLY_DIR", "/tmp/"), timeout)
        if kind == "JSON":
            url = where if where.startswith(("http://", "https://")) else f"http://{where}/json"
            return JsonClient(url, timeout)
        raise MIConnectError(f"MI_CONNECTOR {connector!r}: only FIFO and JSON are supported", exit_code=255)
    if engine == "JSON":
        return JsonClient(config.get("MI_JSON_URL") or "http://127.0.0.1:8888/json", timeout)
    if engine == "FIFO":
        return FifoClient(config["OSIPS_FIFO"], config.get("FIFO_REPLY_DIR", "/tmp/"), timeout)
    raise MIConnectError(f"no control engine found - tried '{engine}' (FIFO and JSON are supported)", exit_code=255)

"""mi_json -- the management interface as JSON-RPC 2.0 over HTTP (not in 1.6).

Overview
    For scripts and dashboards that would rather not speak the FIFO format.
    A gevent WSGI server on ``http_host:http_port`` (127.0.0.1 by default:
    MI can stop the server, so keep it local or behind a firewall) answers

    - ``POST <http_root>`` with a JSON-RPC 2.0 request (or a batch)::

          {"jsonrpc": "2.0", "method": "get_statistics", "params": ["all"], "id": 1}

      ``params`` is a list of strings (numbers are turned into strings) or
      left out. A ``2xx`` MI reply becomes ``result``::

          {"code": 200, "reason": "OK",
           "nodes": [{"name": null, "value": "core:rcv_requests = 3"}, ...]}

      where each node is ``{"name", "value"[, "attributes": {..}][, "children": [..]]}``.
      Any other MI reply becomes ``error`` with the MI code and reason:
      ``{"code": 404, "message": "AOR not found"}``; an unknown command is
      ``-32601`` (Method not found), bad JSON ``-32700``, a malformed request
      ``-32600``, bad params ``-32602``. A request without ``id`` is a
      notification: it runs and gets no answer (HTTP 204).
    - ``GET <http_root>/<command>?params=a,b`` as a convenience: the same
      JSON-RPC response object with ``id`` null.

Dependencies
    None (gevent's pywsgi).

Parameters
    http_host (str, "127.0.0.1"), http_port (int, 8888), http_root (str, "/json").

Functions / MI commands
    None of its own.

Example
    loadmodule "mi_json.so"
    modparam("mi_json", "http_port", 8888)

    curl -s -d '{"jsonrpc":"2.0","method":"uptime","id":1}' http://127.0.0.1:8888/json
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs, unquote

from ..registry import Module, Param, register_module

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def rpc_call(core: Any, request: Any) -> dict[str, Any] | None:
    """One JSON-RPC request object -> response object (None for a notification)."""
    from ..mi import find, run

    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
        return _error(INVALID_REQUEST, "Invalid Request", request.get("id") if isinstance(request, dict) else None)
    request_id = request.get("id")
    notification = "id" not in request
    params = request.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list) or any(isinstance(p, (dict, list)) for p in params):
        response = _error(INVALID_PARAMS, "Invalid params: a list of strings is expected", request_id)
        return None if notification else response
    args = ["" if p is None else (str(p).lower() if isinstance(p, bool) else str(p)) for p in params]
    method = request["method"]
    if find(core, method) is None:
        response = _error(METHOD_NOT_FOUND, f"command '{method}' not available", request_id)
        return None if notification else response
    reply = run(core, method, args)
    if notification:
        return None
    if reply.ok:
        return {"jsonrpc": "2.0", "result": reply.to_dict(), "id": request_id}
    return _error(reply.code, reply.reason, request_id)


def handle_body(core: Any, body: bytes) -> Any:
    """A POST body -> the JSON value to send back (None: nothing to send)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(PARSE_ERROR, "Parse error")
    if isinstance(data, list):
        if not data:
            return _error(INVALID_REQUEST, "Invalid Request")
        answers = [a for a in (rpc_call(core, item) for item in data) if a is not None]
        return answers or None
    return rpc_call(core, data)


def make_app(core: Any, root: str) -> Callable[..., Iterable[bytes]]:
    root = "/" + root.strip("/") if root.strip("/") else ""

    def respond(start_response: Callable[..., Any], status: str, payload: Any) -> list[bytes]:
        if payload is None:
            start_response(status if not status.startswith("200") else "204 No Content", [("Content-Length", "0")])
            return [b""]
        body = (json.dumps(payload) + "\n").encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = unquote(environ.get("PATH_INFO", "") or "/")
        if method == "POST" and path.rstrip("/") in (root, ""):
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                return respond(start_response, "413 Payload Too Large", _error(INVALID_REQUEST, "request too large"))
            body = environ["wsgi.input"].read(length) if length else b""
            return respond(start_response, "200 OK", handle_body(core, body))
        if method == "GET" and path.startswith(root + "/") and len(path) > len(root) + 1:
            command = path[len(root) + 1:].strip("/")
            query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            params: list[str] = []
            for value in query.get("params", []):
                params.extend(value.split(","))
            params = [p for p in params if p != ""]
            answer = rpc_call(core, {"jsonrpc": "2.0", "method": command, "params": params, "id": None})
            return respond(start_response, "200 OK", answer)
        if method not in ("GET", "POST"):
            return respond(start_response, "405 Method Not Allowed", _error(INVALID_REQUEST, "use POST or GET"))
        return respond(start_response, "404 Not Found", _error(INVALID_REQUEST, f"nothing at {path}"))

    return app


@register_module
class MIJsonModule(Module):
    name = "mi_json"
    params = {
        "http_host": Param(str, "127.0.0.1"),
        "http_port": Param(int, 8888),
        "http_root": Param(str, "/json"),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self._server: Any = None

    def init(self) -> None:
        if not 0 < int(self.http_port) < 65536:
            raise ValueError(f"mi_json: bad http_port {self.http_port}")

    def start(self) -> None:
        from gevent.pywsgi import WSGIServer

        self._server = WSGIServer((self.http_host, int(self.http_port)), make_app(self.core, self.http_root),
                                  log=None, error_log=log)
        self._server.start()
        log.info("mi_json: listening on http://%s:%d%s", self.http_host, int(self.http_port), self.http_root)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(timeout=1)
            self._server = None

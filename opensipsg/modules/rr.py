"""rr -- Record-Route and loose routing (OpenSIPS 1.6).

Overview
    record_route() keeps this proxy on the path of a dialog by adding a
    Record-Route header; loose_route() follows the Route set of requests
    (RFC 3261 16.4, 16.6, 16.12), translating for strict routers in both
    directions. Parameters of our own Route entry stay available to
    check_route_param(), is_direction() and ``$rr_params`` for the rest of
    the message's processing.

    Our Record-Route URI is ``sip:[user@]HOST:PORT[;transport=T];lr[=on]
    [;ftag=TAG][;params]`` with HOST:PORT:T the address the request came in
    on (``core.local_address()``). With double record-routing 1.6 adds a
    second entry when the outgoing socket differs; the outgoing socket is
    not known here, so only the inbound entry is added (loose_route still
    understands ``;r2=on`` pairs made by others).

Dependencies
    None.

Parameters
    append_fromtag (int, 1)     add ``;ftag=`` (needed by is_direction()).
    enable_double_rr (int, 1)   honour ``;r2=on`` pairs in loose_route().
    enable_full_lr (int, 0)     write ``;lr=on`` instead of ``;lr``.
    add_username (int, 0)       put the R-URI user into the RR URI.
    ignore_user (str, "")       a Route URI with this user is never ours.

Functions
    loose_route()  [request]
        -1 when there is no Route header, or for an initial request (no To
        tag) whose only Route entries are ours (they are removed). 1 when
        the Route set decides the next hop: our own top entries are removed
        and ``$du`` is set to the next loose router (or, for a strict next
        hop, the R-URI becomes that hop and the old R-URI the last Route).
        For an in-dialog request whose R-URI is ours (it came from a strict
        router) the last Route becomes the R-URI.
    record_route([";params"])  [request, branch, failure] -- 1 / -1.
    record_route_preset("host:port;params")  [request, branch, failure].
    add_rr_param(";name=value")  [request, branch, failure] -- before or
        after record_route().
    check_route_param("regex")  [request] -- 1 if our Route entry's params
        (with the leading ';') match.
    is_direction("downstream"|"upstream")  [request] -- compares the ftag
        param with the From tag; no ftag means downstream.

Pseudo-variables
    $rr_params   params of our Route entry (leading ';'), NULL if none.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ParseError
from ..registry import B, F, Module, Param, PVSpec, R, function, register_module
from ..sip.message import Header
from ..sip.nameaddr import parse_name_addr
from ..sip.params import Params, find_param, params_text
from ..sip.uri import URI, parse_uri

log = logging.getLogger(__name__)

RR_ERROR = -1
RR_DRIVEN = 1
NOT_RR_DRIVEN = -1


@dataclass(slots=True)
class RRState:
    """What rr remembers about one message (``ctx.extra['rr']``)."""

    routed: Params | None = None  # the params of our Route entry (routed_text() writes them)
    pending_params: str = ""
    inserted: list[Header] = field(default_factory=list)

    def routed_text(self) -> str | None:
        """Our Route entry's params as written (leading ';'), None when loose_route found none."""
        routed = self.routed
        return None if routed is None else params_text(routed)


def _state(ctx: Any) -> RRState:
    state = ctx.extra.get("rr")
    if state is None:
        state = ctx.extra["rr"] = RRState()
    return state


def _is_strict(uri: URI) -> bool:
    return uri.param("lr") is None


def _maddr_uri(uri: URI) -> str:
    """RFC 3261 16.12.1: a maddr param names the host to send to."""
    maddr = uri.param("maddr")
    if not maddr:
        return str(uri)
    return f"sip:{maddr}" + (f":{uri.port}" if uri.port is not None else "")


def _route_uri(value: str) -> URI:
    return parse_name_addr(value).uri


def _remove_last_value(msg: Any, name: str) -> None:
    found = list(msg.find(name))
    if not found:
        return
    index, header = found[-1]
    values = header.values()
    if len(values) <= 1:
        del msg.headers[index]
        msg._changed(header.name)
    else:
        msg.replace_header_at(index, ", ".join(values[:-1]))


def _param_value(params: str, name: str) -> str | None:
    for item in params.split(";"):
        key, sep, value = item.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"') if sep else ""
    return None


@register_module
class RrModule(Module):
    name = "rr"
    params = {
        "append_fromtag": Param(int, 1),
        "enable_double_rr": Param(int, 1),
        "enable_full_lr": Param(int, 0),
        "add_username": Param(int, 0),
        "ignore_user": Param(str, ""),
    }
    _rr_address: tuple[Any, str] = (None, "")  # see _address()
    pseudo_variables = (
        PVSpec("rr_params", lambda ctx, param: _state(ctx).routed_text() or None, module="rr"),
    )

    # -- helpers ------------------------------------------------------------
    def _is_myself(self, uri: URI) -> bool:
        if self.ignore_user and uri.user == self.ignore_user:
            return False
        return bool(self.core.is_myself(uri.host, uri.port))

    def _lr(self) -> str:
        return ";lr=on" if self.enable_full_lr else ";lr"

    def _username(self, ctx: Any) -> str:
        if not self.add_username:
            return ""
        request = ctx.request if ctx.request is not None else ctx.msg
        for text in (request.ruri, ctx.ruri):
            try:
                user = parse_uri(text).user
            except ParseError:
                continue
            if user:
                return user
        return ""

    def _from_tag(self, ctx: Any) -> str | None:
        if not self.append_fromtag:
            return ""
        try:
            return ctx.msg.from_.tag or ""
        except ParseError:
            return None

    def _insert_rr(self, ctx: Any, value: str) -> Header:
        msg = ctx.msg
        header = Header("record-route", value, f"Record-Route: {value}")  # (Header.make's spelling, directly)
        index = max(msg._first("record-route")[1], 0)  # above the first Record-Route, else on top
        msg.headers.insert(index, header)
        msg._changed(header.name)  # only Record-Route changed: keep the parsed Via, CSeq, From...
        return header

    # -- record routing -----------------------------------------------------
    @function("record_route", "fmt", optional=1, routes=R | B | F)
    def record_route(self, ctx: Any, params: Any = None) -> int:
        tag = self._from_tag(ctx) if self.append_fromtag else ""  # (the calls only when they do something)
        if tag is None:
            return -1
        user = self._username(ctx) if self.add_username else ""
        # host:port[;transport];lr of the receiving listener, kept for the last one seen
        # (no local_address call per request); an advertised address set by the script wins
        listener = ctx.listener
        extra = ctx.extra
        address = self._rr_address
        if address[0] is not listener or listener is None or "advertised_address" in extra \
                or "advertised_port" in extra:
            address = self._address(ctx)
        text = "<sip:" + (f"{user}@" if user else "") + address[1]
        if tag:
            text += f";ftag={tag}"
        if params is not None:
            text += params.render(ctx)
        state = extra.get("rr")
        header = self._insert_rr(ctx, text + (state.pending_params if state is not None else "") + ">")
        if state is None:  # (made only here: most requests never have one)
            extra["rr"] = RRState(None, "", [header])
        else:
            state.pending_params = ""
            state.inserted.append(header)
        return 1

    def _address(self, ctx: Any) -> tuple[Any, str]:
        """(listener, 'host:port[;transport=T];lr[=on]') of our Record-Route URI; kept in
        _rr_address when it is the listener's own address."""
        host, port, transport = self.core.local_address(ctx)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        text = f"{host}:{port}"
        if transport and transport.lower() != "udp":
            text += f";transport={transport.lower()}"
        text += self._lr()
        extra = ctx.extra
        address = (ctx.listener, text)
        if ctx.listener is not None and "advertised_address" not in extra and "advertised_port" not in extra:
            self._rr_address = address
        return address

    @function("record_route_preset", "fmt", routes=R | B | F)
    def record_route_preset(self, ctx: Any, data: Any) -> int:
        tag = self._from_tag(ctx)
        if tag is None:
            return -1
        user = self._username(ctx)
        body = data.render(ctx)
        if body.lower().startswith(("sip:", "sips:")):
            text = "<" + body
        else:
            text = "<sip:" + (f"{user}@" if user else "") + body
        if tag:
            text += f";ftag={tag}"
        text += self._lr() + ">"
        _state(ctx).inserted.append(self._insert_rr(ctx, text))
        return 1

    @function("add_rr_param", "fmt", routes=R | B | F)
    def add_rr_param(self, ctx: Any, param: Any) -> int:
        text = param.render(ctx)
        state = _state(ctx)
        if not state.inserted:
            state.pending_params += text
            return 1
        msg = ctx.msg
        updated = []
        for header in state.inserted:
            for index, current in enumerate(msg.headers):
                if current is header:
                    value = header.value
                    if value.endswith(">"):
                        value = value[:-1] + text + ">"
                    else:
                        value += text
                    msg.replace_header_at(index, value)
                    updated.append(msg.headers[index])
                    break
        state.inserted = updated
        return 1 if updated else -1

    # -- loose routing --------------------------------------------------------
    @function("loose_route", routes=R)
    def loose_route(self, ctx: Any) -> int:
        msg = ctx.msg
        extra = ctx.extra
        state = extra["rr"] if "rr" in extra else None
        if state is not None:  # made only when needed: most initial requests have no Route
            state.routed = None
        routes = msg.get_values("route")
        if not routes:
            return -1
        try:
            preloaded = not msg.to.tag
            ruri = ctx.parsed_ruri()
            is_myself = self._is_myself
            if not preloaded and is_myself(ruri):
                return self._after_strict(ctx, ruri, routes[0])
            # the loose router's part (RFC 3261 16.4) written here: one frame less per
            # in-dialog request
            first = parse_name_addr(routes[0]).uri
            if is_myself(first):
                # the params kept as parsed: written out only if the script asks for them
                if state is None:
                    extra["rr"] = RRState(first.params)
                else:
                    state.routed = first.params
                double = bool(self.enable_double_rr) and find_param(first.params, "r2") is not None
                msg.remove_first_value("route")
                # our other entries on top: the second of a double RR pair, and
                # any further entries of ours (a request that spiralled through us);
                # the Route values left are those after each one removed (no need to read them again)
                position = 1
                while True:
                    if position >= len(routes):
                        return NOT_RR_DRIVEN if preloaded else RR_DRIVEN
                    first = parse_name_addr(routes[position]).uri
                    if not (double or is_myself(first)):
                        break
                    double = False
                    msg.remove_first_value("route")
                    position += 1
            # _is_strict and _maddr_uri's tests read here (five frames less per in-dialog request)
            params = first.params
            if find_param(params, "lr") is None:
                self._handle_strict_next_hop(ctx, first)
            elif find_param(params, "maddr"):
                ctx.dst_uri = _maddr_uri(first)
            else:
                ctx.dst_uri = first.raw or str(first)
            return RR_DRIVEN
        except ParseError as exc:
            log.error("loose_route: %s", exc.reason)
            return RR_ERROR

    def _handle_strict_next_hop(self, ctx: Any, next_hop: URI) -> None:
        """RFC 3261 16.6 step 6: the next hop is a strict router."""
        msg = ctx.msg
        msg.add_header("Route", f"<{ctx.ruri}>")
        ctx.new_uri = _maddr_uri(next_hop)
        msg.remove_first_value("route")

    def _after_strict(self, ctx: Any, ruri: URI, top_route: str) -> int:
        """RFC 3261 16.4: the R-URI is our RR entry, put there by a strict router."""
        msg = ctx.msg
        state = _state(ctx)
        state.routed = ruri.params
        first = _route_uri(top_route)
        if self.enable_double_rr and first.param("r2") is not None and self._is_myself(first):
            msg.remove_first_value("route")
            routes = msg.get_values("route")
            if not routes:
                return NOT_RR_DRIVEN
            first = _route_uri(routes[0])
        if _is_strict(first):
            # the next hop is strict as well: behave as a strict router
            ctx.new_uri = _maddr_uri(first)
            msg.remove_first_value("route")
            return RR_DRIVEN
        ctx.dst_uri = _maddr_uri(first)
        last = _route_uri(msg.get_values("route")[-1])
        ctx.new_uri = _maddr_uri(last)
        _remove_last_value(msg, "route")
        return RR_DRIVEN

    # -- route params ---------------------------------------------------------
    @function("check_route_param", "regex", routes=R)
    def check_route_param(self, ctx: Any, regex: re.Pattern[str]) -> int:
        params = _state(ctx).routed_text()
        if not params:
            return -1
        return 1 if regex.search(params) else -1

    @function("is_direction", "str", routes=R)
    def is_direction(self, ctx: Any, direction: str) -> int:
        wanted = direction.strip().lower()
        if wanted not in ("downstream", "upstream"):
            log.error("is_direction: unknown direction %r", direction)
            return -1
        actual = "downstream"
        ftag = _param_value(_state(ctx).routed_text() or "", "ftag")
        if ftag:
            try:
                tag = ctx.msg.from_.tag
            except ParseError:
                tag = None
            if tag and tag != ftag:
                actual = "upstream"
        return 1 if actual == wanted else -1

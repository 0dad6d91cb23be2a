"""aaa_radius -- the RADIUS backend of OpenSIPS 1.6's AAA API.

Overview
    Holds the RADIUS clients the AAA users share (auth_aaa now; group,
    uri and acc later): one :class:`opensipsg.aaa.radius.RadiusClient` per
    ``aaa_url``, made on first use. Each request checks a pyrad client (one
    UDP socket) out of a per-server pool, so concurrent transactions never
    share a socket; every wait is bounded by the aaa_url's timeout and
    retries, and a second server is tried when the first does not answer.

    ``aaa_url`` (a parameter of each user module, as in 1.6):
    ``radius:/etc/radiusclient-ng/radiusclient.conf`` (1.6's form; the
    radiusclient-ng file is read: authserver, acctserver, servers,
    dictionary, radius_timeout, radius_retries) or our direct form
    ``radius://SECRET_FILE@HOST[:AUTH_PORT[:ACCT_PORT]][,HOST...]?timeout=2&retries=1``.
    Files holding secrets must not be world-readable (start-up refused).
    Details: opensipsg/aaa/radius.py.

Dependencies
    none (pyrad).

Parameters
    radius_config (str) and sets (str, repeatable): accepted for 1.6
    scripts; radius_send_auth()/radius_send_acct() are not implemented yet.

Functions
    none yet (1.6: radius_send_auth(in_set, out_set), radius_send_acct(in_set)).

Python API (other modules)
    ``core.module("aaa_radius").client(aaa_url) -> RadiusClient`` or the
    module-less :func:`client_for` (a private client) when aaa_radius is
    not loaded (1.5 scripts load auth_radius alone).
"""
from __future__ import annotations

import logging
from typing import Any

from ..aaa.radius import AAAError, RadiusClient, parse_aaa_url
from ..errors import ConfigError
from ..registry import Module, Param, find_module, register_module

log = logging.getLogger(__name__)


def client_for(url: str, who: str) -> RadiusClient:
    """A new client for ``url``; ConfigError with ``who`` in the message on any problem."""
    try:
        return RadiusClient(parse_aaa_url(url))
    except AAAError as exc:
        raise ConfigError(f"{who}: {exc}") from None


def shared_client(core: Any, url: str, who: str) -> RadiusClient:
    """The aaa_radius module's client for ``url`` if aaa_radius is loaded, else a private one."""
    backend = find_module(core, "aaa_radius")
    if backend is not None:
        return backend.client(url, who)
    return client_for(url, who)


def close_private_client(core: Any, client: RadiusClient | None) -> None:
    """Close a client :func:`shared_client` made privately (aaa_radius closes the shared ones)."""
    if client is not None and find_module(core, "aaa_radius") is None:
        client.close()


@register_module
class AaaRadiusModule(Module):
    name = "aaa_radius"
    params = {
        "radius_config": Param(str, ""),
        "sets": Param(str, "", multi=True),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self._clients: dict[str, RadiusClient] = {}

    def client(self, url: str, who: str = "aaa_radius") -> RadiusClient:
        found = self._clients.get(url)
        if found is None:
            found = self._clients[url] = client_for(url, who)
        return found

    def stop(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            client.close()

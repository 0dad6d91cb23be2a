"""Helpers the AAA users share (auth_aaa, group, uri): SIP-AVP reply items and a lazily made client.

SIP-AVP (attribute 225) reply items of an Access-Accept become script AVPs in
OpenSIPS 1.6's syntax: ``name:text``, ``name#int``, ``#id:text``, ``#id#int``.

:class:`LazyClient` makes its RADIUS client on first use, so that loading a
script (``opensipsg -c``, start-up) never needs the RADIUS configuration of
a module whose AAA functions are not called yet. Pure: the client comes from
a factory handed in by the module.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..errors import OpensipsgError
from .radius import AAAError, RadiusClient

__all__ = ["parse_sip_avp", "parse_sip_avps", "LazyClient"]


def parse_sip_avp(text: str) -> tuple[tuple[str, Any], int | str]:
    """One SIP-AVP reply item -> (AVP key, value); ValueError when malformed.

    ``name:text`` -> (("s", name), "text"); ``name#12`` -> (("s", name), 12);
    ``#14:text`` -> (("i", 14), "text"); ``#14#28`` -> (("i", 14), 28).
    """
    numeric = text.startswith("#")
    body = text[1:] if numeric else text
    cut = min((i for i in (body.find(":"), body.find("#")) if i >= 0), default=-1)
    if cut <= 0:
        raise ValueError(f"SIP-AVP {text!r}: no name or no ':'/'#' separator")
    name, sep, raw_value = body[:cut], body[cut], body[cut + 1:]
    key: tuple[str, Any]
    if numeric:
        try:
            key = ("i", int(name))
        except ValueError:
            raise ValueError(f"SIP-AVP {text!r}: bad numeric name") from None
    else:
        key = ("s", name)
    if sep == "#":
        try:
            return key, int(raw_value)
        except ValueError:
            raise ValueError(f"SIP-AVP {text!r}: bad integer value") from None
    return key, raw_value


def parse_sip_avps(items: Iterable[Any]) -> list[tuple[tuple[str, Any], int | str]]:
    """Every SIP-AVP item of a reply, parsed; ValueError on the first malformed one
    (the caller then adds none of them, as 1.6 fails the whole call)."""
    return [parse_sip_avp(item if isinstance(item, str) else str(item)) for item in items]


class LazyClient:
    """A RADIUS client made by ``factory()`` on the first :meth:`get`.

    ``required`` names the dictionary attributes the caller sends or reads;
    a dictionary without one of them is an :class:`AAAError` (1.6 refused to
    start then). A failed set-up is tried again on the next call.
    """

    def __init__(self, factory: Callable[[], RadiusClient], who: str, required: Iterable[str] = ()) -> None:
        self._factory = factory
        self._who = who
        self._required = tuple(required)
        self._client: RadiusClient | None = None

    @property
    def opened(self) -> RadiusClient | None:
        return self._client

    def get(self) -> RadiusClient:
        """The client; AAAError when it cannot be made (bad aaa_url, secret, dictionary)."""
        client = self._client
        if client is None:
            try:
                client = self._factory()
                client.check_attributes(self._required, self._who)
            except AAAError:
                raise
            except (OpensipsgError, ValueError, OSError) as exc:
                raise AAAError(str(exc)) from None
            self._client = client
        return client

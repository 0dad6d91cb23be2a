"""The RADIUS client of opensipsg (pyrad underneath), as OpenSIPS 1.6's aaa_radius uses it.

Configuration: ``aaa_url``
    Two forms are accepted by :func:`parse_aaa_url`:

    * 1.6's ``radius:/path/to/radiusclient.conf`` -- a radiusclient-ng /
      freeradius-client configuration file. Read: ``authserver`` and
      ``acctserver`` (repeatable, tried in order; ``host[:port[:secret]]``;
      default ports 1812 / 1813), ``servers`` (file of ``host secret``
      lines), ``dictionary`` (radiusclient-ng dictionary; ``$INCLUDE``
      followed, attribute numbers above 255 skipped), ``radius_timeout``
      (seconds per try, default 10), ``radius_retries`` (resends after the
      first try, default 3), ``nas_ip`` (ours; NAS-IP-Address). Other keys
      are ignored.
    * our direct form::

          radius://SECRET_FILE@HOST[:AUTH_PORT[:ACCT_PORT]][,HOST...][?timeout=S&retries=N&dict=PATH&nas_ip=IP]

      e.g. ``radius:///etc/opensipsg/radius.secret@127.0.0.1:1812,10.0.0.2``.
      Several hosts are tried in order (fail-over); AUTH_PORT defaults to
      1812 and ACCT_PORT to AUTH_PORT + 1 (1813). The secret is the first
      line of SECRET_FILE. ``timeout`` (seconds per try, default 3),
      ``retries`` (resends after the first try, default 1), ``dict``
      (extra radiusclient-ng/FreeRADIUS dictionary), ``nas_ip``.

    A file holding a shared secret (the servers file, the SECRET_FILE, or a
    radiusclient.conf with inline ``host:port:secret``) must not be
    world-readable: :class:`AAAError` otherwise ("chmod o-rwx ...").

Client API (for auth_aaa, group/uri helpers and acc)
    ``client = RadiusClient(parse_aaa_url(url))``

    ``client.authenticate(attributes) -> RadiusReply``
        Sends an Access-Request (always with a Message-Authenticator, the
        BlastRADIUS counter-measure) and returns the reply:
        ``reply.accepted`` (Access-Accept), ``reply.code``,
        ``reply.attributes`` (list of ``(name, value)`` in wire order;
        ``reply.values(name)``). Access-Reject is a normal reply.
    ``client.send_accounting(attributes) -> bool``
        Sends an Accounting-Request; True when an Accounting-Response came
        back, False (and an error log line) when no server answered or the
        request could not be built. Never raises for network trouble.
        Acct-Delay-Time 0, NAS-IP-Address and NAS-Port are added as
        radiusclient-ng's ``rc_acct()`` does; on resends pyrad raises
        Acct-Delay-Time. Example (what 1.6 acc sends)::

            client.send_accounting([
                ("Acct-Status-Type", "Start"),      # VALUE names or ints
                ("Service-Type", "Sip-Session"),
                ("Sip-Response-Code", 200),
                ("Sip-Method", 1),
                ("Event-Timestamp", int(time.time())),
                ("Sip-From-Tag", from_tag),
                ("Sip-To-Tag", to_tag),
                ("Acct-Session-Id", call_id),
            ])
    ``client.has_attribute(name)`` / ``client.check_attributes(names)``
        Dictionary checks for start-up (1.6 refuses to load a module when
        one of its attribute names is missing).

    ``attributes`` is a sequence of ``(name, value)`` pairs sent in that
    order (a name may repeat). Names are dictionary names, matched
    case-insensitively; values are str, int or bytes (for integer
    attributes a VALUE name such as "Start" works too). Empty string
    values are left out (as 1.6 does). The Digest-* sub-attributes of
    draft-sterman go as ``("Digest-Attributes", digest_attribute(...))``.

    Errors: :class:`AAAError` from ``authenticate`` when no server answered
    (after ``timeout * (retries + 1)`` per server, then the next server)
    or a request could not be built; never a hang. Each request checks a
    pyrad ``Client`` (one UDP socket) out of a per-server pool, so a
    socket is never used by two greenlets at once; a client that timed
    out is closed rather than reused (a late answer cannot be mistaken).
    The reply is awaited in the socket's ``recv()`` with a timeout (pyrad's
    tries and reply checks otherwise), which in the daemon (gevent
    monkey-patched) waits cooperatively; an exchange with a server given
    by name (a lookup per send) also runs under a ``gevent.Timeout`` as a
    last guard.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import select
import socket
import stat
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qs

from pyrad import packet as rpacket
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

from ..errors import OpensipsgError
from .dictionary import CLIENT_DICTIONARY, dictionary_text, open_text

try:  # the guard timer; the client also works without gevent (CLI tools, tests)
    import gevent
except ImportError:  # pragma: no cover
    gevent = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

__all__ = [
    "AAAError",
    "RadiusServer",
    "RadiusConfig",
    "RadiusReply",
    "RadiusClient",
    "parse_aaa_url",
    "read_radiusclient_conf",
    "read_secret_file",
    "load_dictionary",
]

DEFAULT_AUTH_PORT = 1812
DEFAULT_ACCT_PORT = 1813
SIP_PORT = 5060  # NAS-Port as radiusclient-ng's rc_auth()/rc_acct() set it in OpenSIPS
POOL_IDLE_MAX = 32


class AAAError(OpensipsgError):
    """A RADIUS problem: bad configuration, no server answered, request not encodable."""


@dataclass(frozen=True, slots=True)
class RadiusServer:
    host: str
    auth_port: int
    acct_port: int
    secret: bytes = field(repr=False)

    @property
    def name(self) -> str:
        return f"{self.host}:{self.auth_port}/{self.acct_port}"


@dataclass(frozen=True, slots=True)
class RadiusConfig:
    """What a RadiusClient needs: servers in fail-over order, timing, dictionary files."""

    auth_servers: tuple[RadiusServer, ...]
    acct_servers: tuple[RadiusServer, ...]
    timeout: float = 3.0
    retries: int = 1  # resends after the first try
    dictionaries: tuple[str, ...] = ()  # empty: the built-in client dictionary
    extra_dictionaries: tuple[str, ...] = ()  # read after the built-in one (direct form's dict=)
    nas_ip: str | None = None
    source: str = ""  # the aaa_url, for messages


# -- secrets ---------------------------------------------------------------------------
def check_private(path: str) -> None:
    """AAAError unless ``path`` exists and is not readable by others."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise AAAError(f"radius: cannot read secret file {path}: {exc.strerror}") from None
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise AAAError(
            f"radius: secret file {path} is readable by everyone (mode {stat.S_IMODE(mode):04o}); "
            f"refusing to use it: run 'chmod o-rwx {path}' (0600 or 0640 is fine)"
        )


def read_secret_file(path: str) -> bytes:
    """The shared secret: the first non-empty, non-comment line of a private file."""
    check_private(path)
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                line = raw.strip()
                if line and not line.startswith(b"#"):
                    return line
    except OSError as exc:
        raise AAAError(f"radius: cannot read secret file {path}: {exc.strerror}") from None
    raise AAAError(f"radius: secret file {path} holds no secret")


def _read_servers_file(path: str) -> dict[str, bytes]:
    """radiusclient-ng ``servers`` file: ``host[:port] secret`` per line -> {host: secret}."""
    check_private(path)
    secrets: dict[str, bytes] = {}
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                line = raw.split(b"#", 1)[0].strip()
                if not line:
                    continue
                parts = line.split(None, 1)
                if len(parts) != 2:
                    continue
                host = parts[0].decode("ascii", "replace")
                secrets[host.lower()] = parts[1].strip()
                secrets.setdefault(_split_host_port(host)[0].lower(), parts[1].strip())
    except OSError as exc:
        raise AAAError(f"radius: cannot read servers file {path}: {exc.strerror}") from None
    return secrets


# -- URL and radiusclient.conf ------------------------------------------------------------
def _split_host_port(text: str) -> tuple[str, list[str]]:
    """'host:1:2' -> ('host', ['1', '2']); '[::1]:1812' -> ('::1', ['1812'])."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise AAAError(f"radius: bad server address {text!r}")
        host, rest = text[1:end], text[end + 1:]
        return host, [p for p in rest.split(":")[1:]] if rest.startswith(":") else []
    host, *rest = text.split(":")
    return host, rest


def _port(text: str, what: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise AAAError(f"radius: bad {what} port {text!r}") from None
    if not 0 < port < 65536:
        raise AAAError(f"radius: bad {what} port {text!r}")
    return port


def parse_aaa_url(url: str) -> RadiusConfig:
    """``radius:/path/radiusclient.conf`` or ``radius://SECRETFILE@HOST...`` -> RadiusConfig."""
    text = (url or "").strip()
    lowered = text.lower()
    if lowered.startswith("radius://"):
        return _parse_direct(text)
    if lowered.startswith("radius:"):
        path = text[len("radius:"):]
        if not path:
            raise AAAError("radius: aaa_url 'radius:' needs the path of radiusclient.conf")
        return read_radiusclient_conf(path, source=text)
    raise AAAError(f"aaa_url {text!r}: only the radius protocol is supported "
                   "('radius:/path/radiusclient.conf' or 'radius://secretfile@host:port')")


def _parse_direct(url: str) -> RadiusConfig:
    rest = url[len("radius://"):]
    rest, _, query_text = rest.partition("?")
    secret_file, at, hosts = rest.rpartition("@")
    if not at or not secret_file:
        raise AAAError(f"aaa_url {url!r}: no secret file (radius://SECRETFILE@HOST:PORT)")
    query = {k.lower(): v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    unknown = set(query) - {"timeout", "retries", "dict", "nas_ip"}
    if unknown:
        raise AAAError(f"aaa_url {url!r}: unknown option(s) {', '.join(sorted(unknown))}")
    secret = read_secret_file(secret_file)
    servers = []
    for entry in hosts.split(","):
        if not entry.strip():
            continue
        host, ports = _split_host_port(entry)
        if not host or len(ports) > 2:
            raise AAAError(f"aaa_url {url!r}: bad server {entry!r} (HOST[:AUTH_PORT[:ACCT_PORT]])")
        auth = _port(ports[0], "auth") if ports else DEFAULT_AUTH_PORT
        acct = _port(ports[1], "acct") if len(ports) > 1 else (auth + 1 if ports else DEFAULT_ACCT_PORT)
        servers.append(RadiusServer(host, auth, acct, secret))
    if not servers:
        raise AAAError(f"aaa_url {url!r}: no RADIUS server")
    try:
        timeout = float(query.get("timeout", "3"))
        retries = int(query.get("retries", "1"))
    except ValueError:
        raise AAAError(f"aaa_url {url!r}: timeout must be a number, retries an integer") from None
    if timeout <= 0 or retries < 0:
        raise AAAError(f"aaa_url {url!r}: timeout must be > 0 and retries >= 0")
    extra = (query["dict"],) if query.get("dict") else ()
    return RadiusConfig(tuple(servers), tuple(servers), timeout, retries, (), extra,
                        query.get("nas_ip") or None, url)


def read_radiusclient_conf(path: str, source: str = "") -> RadiusConfig:
    """Read a radiusclient-ng / freeradius-client ``radiusclient.conf``."""
    options: dict[str, list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                key, _, value = line.partition(" ") if " " in line else line.partition("\t")
                options.setdefault(key.strip().lower(), []).append(value.strip())
    except OSError as exc:
        raise AAAError(f"radius: cannot read {path}: {exc.strerror}") from None
    base = os.path.dirname(os.path.abspath(path))

    def rel(value: str) -> str:
        return value if os.path.isabs(value) else os.path.join(base, value)

    secrets: dict[str, bytes] = {}
    if options.get("servers"):
        secrets = _read_servers_file(rel(options["servers"][-1]))

    def servers(key: str, default_port: int) -> list[tuple[str, int, bytes]]:
        found = []
        for value in options.get(key, []):
            for entry in value.replace(",", " ").split():
                host, parts = _split_host_port(entry)
                port = _port(parts[0], key) if parts and parts[0] else default_port
                if len(parts) > 1:  # inline secret: the conf file itself must be private
                    check_private(path)
                    secret = parts[1].encode()
                else:
                    secret = secrets.get(f"{host}:{port}".lower()) or secrets.get(host.lower()) or b""
                if not secret:
                    raise AAAError(f"radius: no secret for server {host} in {path} (servers file)")
                found.append((host, port, secret))
        return found

    auth = servers("authserver", DEFAULT_AUTH_PORT)
    acct = servers("acctserver", DEFAULT_ACCT_PORT)
    if not auth and not acct:
        raise AAAError(f"radius: {path} names no authserver/acctserver")
    auth_servers = tuple(RadiusServer(h, p, p + 1, s) for h, p, s in auth)
    acct_servers = tuple(RadiusServer(h, p - 1, p, s) for h, p, s in acct)
    try:
        timeout = float(options.get("radius_timeout", ["10"])[-1])
        retries = int(options.get("radius_retries", ["3"])[-1])
    except ValueError:
        raise AAAError(f"radius: {path}: radius_timeout/radius_retries must be numbers") from None
    dictionaries = tuple(rel(v) for v in options.get("dictionary", [])[-1:])
    nas_ip = (options.get("nas_ip") or [None])[-1]
    return RadiusConfig(auth_servers, acct_servers, max(timeout, 0.001), max(retries, 0),
                        dictionaries, (), nas_ip, source or f"radius:{path}")


# -- dictionary -----------------------------------------------------------------------------
def load_dictionary(files: Sequence[str] = (), extra: Sequence[str] = ()) -> Dictionary:
    """The built-in client dictionary, or ``files`` instead of it; then ``extra`` on top."""
    try:
        if files:
            dictionary = Dictionary(*[open_text(dictionary_text(f)) for f in files])
        else:
            dictionary = Dictionary(open_text(CLIENT_DICTIONARY))
        for path in extra:
            dictionary.ReadDictionary(open_text(dictionary_text(path)))
    except OSError as exc:
        raise AAAError(f"radius: cannot read dictionary {exc.filename}: {exc.strerror}") from None
    except Exception as exc:  # pyrad's ParseError and friends
        raise AAAError(f"radius: bad dictionary: {exc}") from None
    return dictionary


# -- replies --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RadiusReply:
    code: int
    attributes: tuple[tuple[str, Any], ...]
    server: str = ""

    @property
    def accepted(self) -> bool:
        return self.code == rpacket.AccessAccept

    def values(self, name: str) -> list[Any]:
        lname = name.lower()
        return [v for n, v in self.attributes if n.lower() == lname]


# -- the client -----------------------------------------------------------------------------
_DIRECT_TYPES = frozenset(("string", "octets", "integer"))
_UINT32 = struct.Struct("!I")
_VSA_HEAD = struct.Struct("!BBLBB")
_REQUEST_HEAD = struct.Struct("!BBH16s")
_ZERO16 = bytes(16)


@dataclass(frozen=True, slots=True)
class _Encoding:
    """An attribute as the packet stores it: dictionary name, packet key, type we encode (None: pyrad)."""

    name: str
    key: Any  # the code, or (vendor id, code)
    kind: str | None


class _AccessRequest(rpacket.AuthPacket):
    """An Access-Request whose attributes encode without pyrad's per-attribute lookups.

    Only for dictionaries without TLV attributes (the packet then holds lists
    of encoded values under a code or a (vendor id, code) key). pyrad encodes
    the attributes twice per send (Message-Authenticator, then the packet);
    anything unusual (a value too long for one attribute) goes to pyrad's own
    encoder, which raises as before.
    """

    def _PktEncodeAttributes(self) -> bytes:
        parts = []
        for key, values in OrderedDict.items(self):
            for data in values:
                size = len(data) + 2
                if type(key) is int:
                    if size > 255:
                        return super()._PktEncodeAttributes()
                    parts.append(bytes((key, size)) + data)
                else:  # Vendor-Specific (RFC 2865 section 5.26)
                    vendor, code = key
                    if size + 6 > 255:
                        return super()._PktEncodeAttributes()
                    parts.append(_VSA_HEAD.pack(26, size + 6, vendor, code, size) + data)
        return b"".join(parts)

    def RequestPacket(self) -> bytes:
        """pyrad's encoding with the attributes encoded once, not twice, for the Message-Authenticator."""
        authenticator = self.authenticator
        if not self.message_authenticator or authenticator is None or self.id is None or self.auth_type != "pap":
            return super().RequestPacket()
        self._set_message_authenticator(_ZERO16)
        if next(iter(OrderedDict.keys(self))) != 80:  # not first (pyrad puts it first): pyrad's way
            return super().RequestPacket()
        attr = self._PktEncodeAttributes()
        header = _REQUEST_HEAD.pack(self.code, self.id, 20 + len(attr), authenticator)
        # RFC 3579 3.2: HMAC-MD5 over the packet with the Message-Authenticator zeroed
        mac = hmac.digest(self.secret, header + attr, "md5")
        self._set_message_authenticator(mac)
        return header + attr[:2] + mac + attr[18:]


# _AccessRequest overrides these pyrad internals (pyrad 2.6); with another layout, pyrad's own packet
_ACCESS_REQUEST_FITS = all(hasattr(rpacket.AuthPacket, name) for name in (
    "_PktEncodeAttributes", "_set_message_authenticator", "RequestPacket"))


# _PooledClient._SendPacket relies on these pyrad internals; without them, pyrad's own loop
_SEND_LOOP_FITS = all(hasattr(Client, name) for name in ("_VerifyReply", "_UpdateAcctDelayTime", "_SendPacket"))


def _cut_to_fit(name: str, value: str | bytes, limit: int) -> str | bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) <= limit:
        return value
    log.warning("radius: %s is %d octets, more than one attribute holds: cut to %d", name, len(data), limit)
    if isinstance(value, str):
        return data[:limit].decode("utf-8", "ignore")  # never half a character
    return data[:limit]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _address_family(host: str) -> int:
    """The socket family for ``host``: an address literal's, else what the name resolves to (once)."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        pass
    try:
        return socket.getaddrinfo(host, 80)[0][0]
    except OSError:
        return socket.AF_INET  # pyrad's fallback


class _PooledClient(Client):
    """pyrad's Client whose socket family is fixed when the pool makes it.

    pyrad looks the server name up (getaddrinfo, a thread-pool round trip
    under gevent) before every send just to pick the socket family; a pooled
    client keeps its socket, so the family is known once and for all.
    """

    def __init__(self, family: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._family = family

    def _SocketOpen(self) -> None:
        if not self._socket:
            self._socket = socket.socket(self._family, socket.SOCK_DGRAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._poll.register(self._socket, select.POLLIN)

    def _SendPacket(self, pkt: Any, port: int) -> Any:
        """pyrad's send/wait loop, waiting in the socket's own recv() with a timeout.

        pyrad waits in poll(): under gevent that makes a new I/O watcher and an
        event per wait and then recv()s; a gevent socket's recv() waits on the
        socket's own watcher. Same tries, timeouts and reply checks as pyrad's.
        """
        if not _SEND_LOOP_FITS:
            return super()._SendPacket(pkt, port)
        self._SocketOpen()
        sock = self._socket
        authenticators: list[Any] = []  # of every try, oldest first: a late reply is still valid
        # the timeout stays set: pyrad's own paths recv() only after poll() saw a datagram
        for attempt in range(self.retries):
            if attempt and pkt.code == rpacket.AccountingRequest:
                self._UpdateAcctDelayTime(pkt)
            now = time.monotonic()
            waitto = now + self.timeout
            sock.sendto(pkt.RequestPacket(), (self.server, port))
            authenticator = getattr(pkt, "authenticator", None)
            if authenticator in authenticators:
                authenticators.remove(authenticator)
            authenticators.append(authenticator)
            while now < waitto:
                sock.settimeout(waitto - now)
                try:
                    rawreply = sock.recv(4096)
                except TimeoutError:
                    break
                try:
                    reply = pkt.CreateReply(packet=rawreply)
                    valid, authenticator = self._VerifyReply(pkt, reply, rawreply, authenticators)
                    if valid:
                        if hasattr(pkt, "authenticator"):
                            reply.request_authenticator = authenticator
                        return reply
                except rpacket.PacketError:
                    pass
                now = time.monotonic()
        raise Timeout


class _Pool:
    """Idle pyrad Clients of one server; a client is used by one greenlet at a time."""

    def __init__(self, server: RadiusServer, dictionary: Dictionary, timeout: float, retries: int) -> None:
        self.server = server
        self.dictionary = dictionary
        self.timeout = timeout
        self.retries = retries
        self._idle: list[Client] = []
        self._lock = threading.Lock()  # gevent-patched in the daemon; never held across I/O
        self._family: int | None = None
        # our send loop waits only in recv() with a timeout and an address literal needs no
        # name lookup: such an exchange cannot hang, and skips the guard timer
        self.bounded = _SEND_LOOP_FITS and _is_address(server.host)

    def checkout(self) -> Client:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        if self._family is None:
            self._family = _address_family(self.server.host)
        # pyrad's "retries" is the total number of sends
        return _PooledClient(self._family, server=self.server.host, authport=self.server.auth_port,
                             acctport=self.server.acct_port, secret=self.server.secret,
                             dict=self.dictionary, retries=self.retries + 1, timeout=self.timeout)

    def checkin(self, client: Client, healthy: bool) -> None:
        if healthy:
            with self._lock:
                if len(self._idle) < POOL_IDLE_MAX:
                    self._idle.append(client)
                    return
        _close(client)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            _close(client)


def _close(client: Client) -> None:
    try:
        client._CloseSocket()
    except Exception:  # pragma: no cover - closing must never fail a request
        pass


class RadiusClient:
    """See module docstring."""

    def __init__(self, config: RadiusConfig, dictionary: Dictionary | None = None) -> None:
        self.config = config
        self.dictionary = dictionary or load_dictionary(config.dictionaries, config.extra_dictionaries)
        self._names = {name.lower(): name for name in self.dictionary.attributes}
        self._encodings: dict[str, _Encoding] = {}
        self._plain_dictionary = _ACCESS_REQUEST_FITS and all(
            attr.type != "tlv" for attr in self.dictionary.attributes.values())
        self._auth = [_Pool(s, self.dictionary, config.timeout, config.retries) for s in config.auth_servers]
        self._acct = [_Pool(s, self.dictionary, config.timeout, config.retries) for s in config.acct_servers]
        self._nas_ip: dict[str, str] = {}
        self._nas_cache: dict[RadiusServer, tuple[tuple[Any, bytes], ...]] = {}  # one entry per server

    # -- dictionary ------------------------------------------------------------------------
    def attribute_name(self, name: str) -> str | None:
        """The dictionary's spelling of ``name`` (case-insensitive), or None."""
        return self._names.get(name.lower())

    def has_attribute(self, name: str) -> bool:
        return name.lower() in self._names

    def check_attributes(self, names: Iterable[str], who: str) -> None:
        """AAAError naming every attribute (``Attr`` or ``Attr=Value``) the dictionary lacks."""
        missing = []
        for item in names:
            attr, _, value = item.partition("=")
            canonical = self.attribute_name(attr)
            if canonical is None:
                missing.append(attr)
            elif value and not self.dictionary[canonical].values.HasForward(value):
                if not any(v.lower() == value.lower() for v in self.dictionary[canonical].values.forward):
                    missing.append(f"{attr} value {value}")
        if missing:
            raise AAAError(f"{who}: the RADIUS dictionary lacks {', '.join(missing)} ({self.config.source})")

    def _value(self, name: str, value: Any) -> Any:
        attr = self.dictionary[name]
        if attr.type in ("integer", "date", "short", "byte", "integer64", "signed") and isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit():
                return int(text)
            for known in attr.values.forward:
                if known.lower() == text.lower():
                    return known
            raise AAAError(f"radius: {value!r} is no value of {name}")
        return value

    def _encoding(self, name: str) -> _Encoding:
        """How ``name`` is put into a packet (looked up once per spelling); AAAError if unknown."""
        found = self._encodings.get(name)
        if found is None:
            canonical = self.attribute_name(name)
            if canonical is None:
                raise AAAError(f"radius: attribute {name} is not in the dictionary")
            attr = self.dictionary.attributes[canonical]
            kind = attr.type if attr.type in _DIRECT_TYPES else None
            if attr.encrypt or attr.has_tag or attr.is_sub_attribute or (kind != "integer" and attr.values.forward):
                kind = None
            key = (self.dictionary.vendors.GetForward(attr.vendor), attr.code) if attr.vendor else attr.code
            found = _Encoding(canonical, key, kind)
            if len(self._encodings) >= len(self._names) * 2:  # spellings from code and scripts: bounded
                self._encodings.clear()
            self._encodings[name] = found
        return found

    def _direct(self, encoding: _Encoding, value: Any) -> bytes | None:
        """The octets pyrad's encoder would make for the common cases, else None (pyrad does it)."""
        kind = encoding.kind
        if kind == "string":
            data = value.encode("utf-8") if isinstance(value, str) else value if isinstance(value, bytes) else None
        elif kind == "octets":
            data = value if isinstance(value, bytes) and not value.startswith(b"0x") else None
        elif kind == "integer":
            if type(value) is int and 0 <= value <= 0xFFFFFFFF:  # no dictionary lookup needed
                return _UINT32.pack(value)
            value = self._value(encoding.name, value)
            if isinstance(value, str):
                return self.dictionary.attributes[encoding.name].values.GetForward(value)
            return _UINT32.pack(value) if type(value) is int and 0 <= value <= 0xFFFFFFFF else None
        else:
            return None
        return data if data is not None and len(data) <= 253 else None

    def _fill(self, pkt: Any, attributes: Iterable[tuple[str, Any]], cut: bool = False) -> None:
        """Add ``attributes`` to ``pkt``. A value too long for one attribute is an AAAError,
        as in 1.6 (radiusclient refused it), unless ``cut``: accounting records cut such a
        text to fit and say so, because a record that can never be sent would stop the
        spool behind it for ever."""
        encodings = self._encodings
        for name, value in attributes:
            encoding = encodings.get(name) or self._encoding(name)
            if value is None or value == "" or value == b"":
                continue
            if cut and isinstance(value, (str, bytes)):
                value = _cut_to_fit(name, value, 247 if isinstance(encoding.key, tuple) else 253)
            try:
                # the packet keeps encoded values per attribute key, as pyrad's AddAttribute leaves them
                kind = encoding.kind
                if kind == "string" and type(value) is str:  # most attributes: inline
                    data = value.encode("utf-8")
                    if len(data) > 253:
                        data = None
                elif kind == "octets" and type(value) is bytes and len(value) <= 253 and value[:2] != b"0x":
                    data = value  # Digest-Attributes: inline too
                else:
                    data = self._direct(encoding, value)
                if data is None:
                    pkt.AddAttribute(encoding.name, self._value(encoding.name, value))
                else:
                    values = OrderedDict.get(pkt, encoding.key)
                    if values is None:
                        OrderedDict.__setitem__(pkt, encoding.key, [data])
                    else:
                        values.append(data)
            except AAAError:
                raise
            except Exception as exc:
                raise AAAError(f"radius: cannot encode {name}={value!r}: {exc}") from None

    def _nas_ip_for(self, server: RadiusServer) -> str:
        if self.config.nas_ip:
            return self.config.nas_ip
        cached = self._nas_ip.get(server.host)
        if cached is None:
            # the address the kernel would send from (connect() on UDP sends nothing)
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.connect((server.host, server.auth_port))
                cached = probe.getsockname()[0]
            except OSError:
                cached = "127.0.0.1"
            finally:
                probe.close()
            self._nas_ip[server.host] = cached
        return cached

    def _nas_encoded(self, server: RadiusServer) -> tuple[tuple[Any, bytes], ...]:
        """(packet key, octets) of NAS-Port and NAS-IP-Address for ``server``, encoded once."""
        found = self._nas_cache.get(server)
        if found is None:
            scratch = rpacket.AuthPacket(secret=server.secret, dict=self.dictionary, authenticator=bytes(16))
            if "NAS-Port" in self.dictionary:
                scratch.AddAttribute("NAS-Port", SIP_PORT)
            if "NAS-IP-Address" in self.dictionary:
                try:
                    scratch.AddAttribute("NAS-IP-Address", self._nas_ip_for(server))
                except Exception:  # an IPv6 source has no NAS-IP-Address
                    pass
            found = self._nas_cache[server] = tuple((key, values[0]) for key, values in OrderedDict.items(scratch))
        return found

    def _nas_attributes(self, pkt: Any, server: RadiusServer) -> None:
        for key, data in self._nas_encoded(server):
            if not OrderedDict.__contains__(pkt, key):  # the caller's own NAS-* wins
                OrderedDict.__setitem__(pkt, key, [data])

    # -- requests ------------------------------------------------------------------------------
    def build_auth_packet(self, attributes: Sequence[tuple[str, Any]], server: RadiusServer | None = None,
                          client: Client | None = None) -> Any:
        """The Access-Request (unsent), e.g. for tests: attributes in order, then NAS-*."""
        server = server or self.config.auth_servers[0]
        if client is None:
            maker = Client(server=server.host, authport=server.auth_port, acctport=server.acct_port,
                           secret=server.secret, dict=self.dictionary)
        else:
            maker = client
        # os.urandom once: pyrad would draw the 16 octets one randrange() at a time
        if self._plain_dictionary:
            pkt = _AccessRequest(code=rpacket.AccessRequest, secret=maker.secret, dict=maker.dict,
                                 message_authenticator=True, authenticator=os.urandom(16))
        else:
            pkt = maker.CreateAuthPacket(code=rpacket.AccessRequest, message_authenticator=True,
                                         authenticator=os.urandom(16))
        self._fill(pkt, attributes)
        self._nas_attributes(pkt, server)
        return pkt

    def _exchange(self, pools: list[_Pool], make: Any, kind: str) -> tuple[Any, RadiusServer]:
        if not pools:
            raise AAAError(f"radius: no {kind} server configured ({self.config.source})")
        failures = []
        for pool in pools:
            client = pool.checkout()
            healthy = False
            try:
                pkt = make(client, pool.server)
                budget = self.config.timeout * (self.config.retries + 1) + 1.0
                if gevent is not None and not pool.bounded:
                    with gevent.Timeout(budget, Timeout):
                        reply = client.SendPacket(pkt)
                else:  # pragma: no cover
                    reply = client.SendPacket(pkt)
                healthy = True
                return reply, pool.server
            except Timeout:
                failures.append(f"{pool.server.name} did not answer")
                log.warning("radius %s request: server %s did not answer (%d tries, %.1fs each)",
                            kind, pool.server.name, self.config.retries + 1, self.config.timeout)
            except AAAError:
                healthy = True
                raise
            except (ValueError, TypeError, struct.error) as exc:
                # pyrad could not pack the request (a vendor attribute over 255 octets...):
                # the request is at fault, not the server; another server would fail too
                healthy = True
                raise AAAError(f"radius {kind} request could not be encoded: {exc}") from None
            except OSError as exc:
                failures.append(f"{pool.server.name}: {exc.strerror or exc}")
                log.warning("radius %s request to %s failed: %s", kind, pool.server.name, exc)
            finally:
                pool.checkin(client, healthy)
        raise AAAError(f"radius {kind} request failed: " + "; ".join(failures))

    def authenticate(self, attributes: Sequence[tuple[str, Any]]) -> RadiusReply:
        """Access-Request -> RadiusReply (accept or reject); AAAError if nobody answered."""
        def make(client: Client, server: RadiusServer) -> Any:
            return self.build_auth_packet(attributes, server, client)

        reply, server = self._exchange(self._auth, make, "auth")
        return RadiusReply(reply.code, self._decode(reply), server.name)

    def send_accounting(self, attributes: Sequence[tuple[str, Any]]) -> bool:
        """Accounting-Request; True if a server acknowledged it (see module docstring)."""
        def make(client: Client, server: RadiusServer) -> Any:
            pkt = client.CreateAcctPacket(code=rpacket.AccountingRequest)
            self._fill(pkt, attributes, cut=True)
            if "Acct-Delay-Time" in self.dictionary and "Acct-Delay-Time" not in pkt:
                pkt.AddAttribute("Acct-Delay-Time", 0)
            self._nas_attributes(pkt, server)
            return pkt

        try:
            reply, _ = self._exchange(self._acct, make, "acct")
        except AAAError as exc:
            log.error("radius accounting request failed: %s", exc)
            return False
        if reply.code != rpacket.AccountingResponse:
            log.error("radius accounting request: unexpected reply code %d", reply.code)
            return False
        return True

    def _decode(self, reply: Any) -> tuple[tuple[str, Any], ...]:
        out: list[tuple[str, Any]] = []
        for key in reply.keys():
            if key == "Message-Authenticator":
                continue
            try:
                values = reply[key]
            except Exception:
                continue
            name = key if isinstance(key, str) else str(key)
            for value in values:
                out.append((name, value))
        return tuple(out)

    def close(self) -> None:
        for pool in self._auth + self._acct:
            pool.close()

"""The RADIUS client dictionary of opensipsg: the names OpenSIPS 1.6 scripts use.

OpenSIPS 1.6 resolves every attribute through the radiusclient-ng
dictionary (standard attributes + ``dictionary.sip``) plus its own
``etc/dictionary.opensips``; :data:`CLIENT_DICTIONARY` is that set with
1.6's numbers, in pyrad's (FreeRADIUS-style) syntax, so no file has to be
installed. Differences from radiusclient-ng, on purpose:

* Digest-Realm .. Digest-User-Name (radiusclient-ng pseudo numbers
  1063-1072) are not attributes here: they travel as TLVs inside
  Digest-Attributes (207) and are built by :func:`digest_attribute`
  (pyrad encodes an attribute number in one octet).
* Event-Timestamp stays an integer (the server reads the same 4 octets as
  a date).

The server side (FreeRADIUS) uses raddb/dictionary.opensips, where the
names that clash with FreeRADIUS' stock dictionaries are renamed
(OpenSIPS-Sip-Method, ...); the numbers are the same.
"""
from __future__ import annotations

import io
import os
import re

__all__ = ["CLIENT_DICTIONARY", "DIGEST_SUBTYPES", "digest_attribute", "dictionary_text"]

# draft-sterman-aaa-sip-00 sub-attributes of Digest-Attributes (207)
DIGEST_SUBTYPES = {
    "Digest-Realm": 1,
    "Digest-Nonce": 2,
    "Digest-Method": 3,
    "Digest-URI": 4,
    "Digest-QOP": 5,
    "Digest-Algorithm": 6,
    "Digest-Body-Digest": 7,
    "Digest-CNonce": 8,
    "Digest-Nonce-Count": 9,
    "Digest-User-Name": 10,
}


def digest_attribute(name: str, value: str | bytes) -> bytes:
    """One Digest-Attributes (207) value: ``subtype, len(value)+2, value``.

    ValueError for an unknown name, an empty value (FreeRADIUS' digest
    module needs length >= 3) or a value longer than 251 octets.
    """
    subtype = DIGEST_SUBTYPES[name]
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    if not data:
        raise ValueError(f"{name}: empty value cannot be sent in Digest-Attributes")
    if len(data) > 251:
        raise ValueError(f"{name}: value longer than 251 octets")
    return bytes((subtype, len(data) + 2)) + data


CLIENT_DICTIONARY = """\
# opensipsg RADIUS client dictionary: RFC 2865/2866/2869 + radiusclient-ng
# dictionary.sip + OpenSIPS 1.6 etc/dictionary.opensips (1.6 numbers).
ATTRIBUTE	User-Name		1	string
ATTRIBUTE	User-Password		2	string	encrypt=1
ATTRIBUTE	CHAP-Password		3	octets
ATTRIBUTE	NAS-IP-Address		4	ipaddr
ATTRIBUTE	NAS-Port		5	integer
ATTRIBUTE	Service-Type		6	integer
ATTRIBUTE	Framed-Protocol		7	integer
ATTRIBUTE	Framed-IP-Address	8	ipaddr
ATTRIBUTE	Reply-Message		18	string
ATTRIBUTE	State			24	octets
ATTRIBUTE	Class			25	octets
ATTRIBUTE	Vendor-Specific		26	octets
ATTRIBUTE	Session-Timeout		27	integer
ATTRIBUTE	Idle-Timeout		28	integer
ATTRIBUTE	Called-Station-Id	30	string
ATTRIBUTE	Calling-Station-Id	31	string
ATTRIBUTE	NAS-Identifier		32	string
ATTRIBUTE	Proxy-State		33	octets
ATTRIBUTE	Acct-Status-Type	40	integer
ATTRIBUTE	Acct-Delay-Time		41	integer
ATTRIBUTE	Acct-Input-Octets	42	integer
ATTRIBUTE	Acct-Output-Octets	43	integer
ATTRIBUTE	Acct-Session-Id		44	string
ATTRIBUTE	Acct-Authentic		45	integer
ATTRIBUTE	Acct-Session-Time	46	integer
ATTRIBUTE	Acct-Input-Packets	47	integer
ATTRIBUTE	Acct-Output-Packets	48	integer
ATTRIBUTE	Acct-Terminate-Cause	49	integer
ATTRIBUTE	Acct-Multi-Session-Id	50	string
ATTRIBUTE	Acct-Link-Count		51	integer
ATTRIBUTE	Event-Timestamp		55	integer
ATTRIBUTE	NAS-Port-Type		61	integer
ATTRIBUTE	Connect-Info		77	string
ATTRIBUTE	Message-Authenticator	80	octets
ATTRIBUTE	NAS-Port-Id		87	string

# radiusclient-ng dictionary.sip
ATTRIBUTE	Sip-Method		101	integer
ATTRIBUTE	Sip-Response-Code	102	integer
ATTRIBUTE	Sip-CSeq		103	string
ATTRIBUTE	Sip-To-Tag		104	string
ATTRIBUTE	Sip-From-Tag		105	string
ATTRIBUTE	Sip-Branch-ID		106	string
ATTRIBUTE	Sip-Translated-Request-URI	107	string
ATTRIBUTE	Sip-Source-IP-Address	108	ipaddr
ATTRIBUTE	Sip-Source-Port		109	integer
ATTRIBUTE	Sip-User-ID		110	string
ATTRIBUTE	Sip-User-Realm		111	string
ATTRIBUTE	Sip-User-Nonce		112	string
ATTRIBUTE	Sip-User-Method		113	string
ATTRIBUTE	Sip-User-Digest-URI	114	string
ATTRIBUTE	Sip-User-Nonce-Count	115	string
ATTRIBUTE	Sip-User-QOP		116	string
ATTRIBUTE	Sip-User-Opaque		117	string
ATTRIBUTE	Sip-User-Response	118	string
ATTRIBUTE	Sip-User-CNonce		119	string
ATTRIBUTE	Digest-Response		206	string
ATTRIBUTE	Digest-Attributes	207	octets
ATTRIBUTE	Sip-Uri-User		208	string
ATTRIBUTE	Sip-Req-URI		210	string
ATTRIBUTE	Sip-Group		211	string
ATTRIBUTE	Sip-CC			212	string
ATTRIBUTE	Sip-Rpid		213	string
ATTRIBUTE	SIP-AVP			225	string

VALUE	Service-Type		Login-User		1
VALUE	Service-Type		Framed-User		2
VALUE	Service-Type		Callback-Login-User	3
VALUE	Service-Type		Callback-Framed-User	4
VALUE	Service-Type		Outbound-User		5
VALUE	Service-Type		Administrative-User	6
VALUE	Service-Type		NAS-Prompt-User		7
VALUE	Service-Type		Authenticate-Only	8
VALUE	Service-Type		Callback-NAS-Prompt	9
VALUE	Service-Type		Call-Check		10
VALUE	Service-Type		Callback-Administrative	11
VALUE	Service-Type		Group-Check		12
VALUE	Service-Type		Sip-Session		15
VALUE	Service-Type		SIP-Caller-AVPs		30
VALUE	Service-Type		SIP-Callee-AVPs		31

VALUE	Acct-Status-Type	Start			1
VALUE	Acct-Status-Type	Stop			2
VALUE	Acct-Status-Type	Alive			3
VALUE	Acct-Status-Type	Interim-Update		3
VALUE	Acct-Status-Type	Accounting-On		7
VALUE	Acct-Status-Type	Accounting-Off		8
VALUE	Acct-Status-Type	Failed			15

VALUE	Sip-Method		Invite			1
VALUE	Sip-Method		Cancel			2
VALUE	Sip-Method		Ack			4
VALUE	Sip-Method		Bye			8
VALUE	Sip-Method		Info			16
VALUE	Sip-Method		Options			32
VALUE	Sip-Method		Update			64
VALUE	Sip-Method		Register		128
VALUE	Sip-Method		Message			256
VALUE	Sip-Method		Subscribe		512
VALUE	Sip-Method		Notify			1024
VALUE	Sip-Method		Prack			2048
VALUE	Sip-Method		Refer			4096
VALUE	Sip-Method		Publish			8192
VALUE	Sip-Method		Other			16384

VENDOR	Cisco	9
ATTRIBUTE	Cisco-AVPair		1	string	Cisco
"""

_INCLUDE = re.compile(r"^\s*\$INCLUDE\s+(\S+)", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"^\s*ATTRIBUTE\s+(\S+)\s+(\S+)\s+(\S+)(.*)$", re.IGNORECASE)


def dictionary_text(path: str, _depth: int = 0) -> str:
    """A radiusclient-ng / FreeRADIUS dictionary file as text pyrad can read.

    ``$INCLUDE`` is resolved here (relative to the including file);
    attributes with a number above 255 outside a vendor block (the
    radiusclient-ng Digest-* pseudo attributes 1063-1072, FreeRADIUS
    internal ones) are dropped, since they never go on the wire as such.
    Raises OSError when a file cannot be read.
    """
    if _depth > 8:
        raise ValueError(f"dictionary {path}: $INCLUDE nested too deeply")
    out: list[str] = []
    in_vendor = False
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            stripped = line.split("#", 1)[0].strip()
            include = _INCLUDE.match(stripped)
            if include:
                target = include.group(1)
                if not os.path.isabs(target):
                    target = os.path.join(os.path.dirname(path), target)
                out.append(dictionary_text(target, _depth + 1))
                continue
            word = stripped.split(None, 1)[0].upper() if stripped else ""
            if word == "BEGIN-VENDOR":
                in_vendor = True
            elif word == "END-VENDOR":
                in_vendor = False
            attribute = _ATTRIBUTE.match(stripped)
            if attribute and not in_vendor and not attribute.group(4).strip():
                try:
                    number = int(attribute.group(2), 0)
                except ValueError:
                    number = 0
                if number > 255:
                    continue
            out.append(stripped)
    return "\n".join(out) + "\n"


def open_text(text: str) -> io.StringIO:
    return io.StringIO(text)

"""Digest nonces: unforgeable, time-limited, single-use (pure; time comes in as ``now``).

Format (hex, 80 characters)::

    EEEEEEEE IIIIIIII MMMM...(64)
    expiry   index    keyed BLAKE2b-256(secret, "EEEEEEEEIIIIIIII")

1.6 used MD5(expiry+index+secret) with the same 8+8 prefix; we keep the
layout (so logs read the same) and use a MAC, which, unlike a bare hash of
text+secret, is not open to length extension. BLAKE2b's keyed mode is a MAC
by design (RFC 7693) and, from a pre-keyed state, costs a fifth of an
HMAC-SHA256 per nonce; a secret longer than BLAKE2b's 64-byte key is hashed
down first, as HMAC does.

Replay protection (our choice; 1.6 kept one "used" bit per index and, by a
slip in its enum, returned the positive NONCE_REUSED=3 to the script):

* every issued nonce gets an entry (index -> last nonce-count seen) in a
  bounded in-memory table; a nonce without an entry (evicted, issued
  before a restart, never issued) is refused;
* with qop the client counts requests (nc): each nc must be greater than
  the last one accepted for that nonce, so one nonce serves many requests
  and none can be played again;
* without qop a nonce is good for exactly one request (one-time nonces);
* a refused nonce is reported as stale: the caller answers with a new
  challenge carrying ``stale=true`` so honest clients retry without asking
  the user, and an attacker who replays gains nothing.

The table keeps at most ``max_entries`` nonces; the oldest are dropped
first (and expired ones on every issue), so memory stays bounded under a
flood of challenges: a dropped nonce just costs its client one more 401.
"""
from __future__ import annotations

import enum
import hashlib
import hmac
from collections import OrderedDict

__all__ = ["NonceStatus", "NonceManager", "NONCE_LEN"]

NONCE_LEN = 16 + 64
_HEX = frozenset("0123456789abcdef")
_USED = -1  # a no-qop nonce that has served its request


class NonceStatus(enum.Enum):
    VALID = "valid"
    FORGED = "forged"  # not made by us (bad MAC, bad format, other secret)
    EXPIRED = "expired"
    REPLAYED = "replayed"  # used already (or nc not increasing), or forgotten


class NonceManager:
    """Issues and checks nonces for one auth module instance."""

    def __init__(self, secret: bytes | str, expire: int = 30, max_entries: int = 100_000) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not secret:
            raise ValueError("nonce secret must not be empty")
        if len(secret) > 64:
            secret = hashlib.blake2b(secret).digest()
        # keyed once; each MAC copies this state (the key block is not hashed again)
        self._keyed = hashlib.blake2b(key=secret, digest_size=32)
        self.expire = expire
        self.max_entries = max_entries
        self._next_index = 0
        # index -> (expires, last nc seen: 0 none, _USED for a spent no-qop nonce)
        self._state: OrderedDict[int, list[int]] = OrderedDict()

    # -- making ----------------------------------------------------------------
    def _mac(self, prefix: str) -> str:
        mac = self._keyed.copy()
        mac.update(prefix.encode("ascii"))
        return mac.hexdigest()

    def issue(self, now: float) -> str:
        """A new nonce valid until ``now + expire``."""
        expires = (int(now) + self.expire) & 0xFFFFFFFF
        index = self._next_index
        self._next_index = (index + 1) & 0xFFFFFFFF
        # an OrderedDict, not a dict: dropping the oldest entry over and over stays O(1)
        state = self._state
        if state and next(iter(state.values()))[0] < now:  # the oldest has expired (else no call)
            self._prune(now)
        state.pop(index, None)
        state[index] = [expires, 0]
        while len(state) > self.max_entries:
            state.popitem(last=False)
        prefix = f"{expires:08x}{index:08x}"
        mac = self._keyed.copy()  # (_mac inline: one frame less per challenge)
        mac.update(prefix.encode("ascii"))
        return prefix + mac.hexdigest()

    def _prune(self, now: float) -> None:
        state = self._state
        while state:
            index, entry = next(iter(state.items()))
            if entry[0] >= now:
                break
            del state[index]

    # -- checking ----------------------------------------------------------------
    def verify(self, nonce: str) -> bool:
        """True if we made this nonce (whatever its age)."""
        # only the prefix needs the hex check: a MAC part equal to ours is lowercase hex
        # (isascii: compare_digest refuses other text)
        if len(nonce) != NONCE_LEN or not nonce.isascii() or not _HEX.issuperset(nonce[:16]):
            return False
        return hmac.compare_digest(self._mac(nonce[:16]), nonce[16:])

    @staticmethod
    def expires(nonce: str) -> int:
        return int(nonce[:8], 16)

    @staticmethod
    def index(nonce: str) -> int:
        return int(nonce[8:16], 16)

    def is_expired(self, nonce: str, now: float) -> bool:
        return self.expires(nonce) < now

    def consume(self, nonce: str, now: float, nc: str | None = None, *, verified: bool = False) -> NonceStatus:
        """Check a nonce whose response was right and record its use.

        ``nc`` is the nonce-count (hex) when the client used qop, else None.
        ``verified``: the caller has just had :meth:`verify` accept this very
        string (the MAC is then not computed a second time).
        """
        if not verified and not self.verify(nonce):
            return NonceStatus.FORGED
        expires = int(nonce[:8], 16)
        if expires < now:
            return NonceStatus.EXPIRED
        entry = self._state.get(int(nonce[8:16], 16))
        if entry is None or entry[0] != expires:
            return NonceStatus.REPLAYED
        if nc is None:
            if entry[1] != 0:
                return NonceStatus.REPLAYED
            entry[1] = _USED
            return NonceStatus.VALID
        try:
            count = int(nc, 16)
        except ValueError:
            return NonceStatus.REPLAYED
        if entry[1] == _USED or count <= entry[1]:
            return NonceStatus.REPLAYED
        entry[1] = count
        return NonceStatus.VALID

    def __len__(self) -> int:
        return len(self._state)

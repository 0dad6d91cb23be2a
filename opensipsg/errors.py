"""The one error family of opensipsg.

Every failure that a caller may want to handle derives from :class:`OpensipsgError`.
Parsers raise :class:`ParseError` carrying the SIP status the edge should answer
with; the script loader raises :class:`ScriptError` naming file:line:col.
"""
from __future__ import annotations


class OpensipsgError(Exception):
    """Root of every error opensipsg raises on purpose."""


class SipError(OpensipsgError):
    """An error that maps onto a SIP reply: ``status`` and ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class ParseError(SipError):
    """A message (or part of one) could not be parsed.

    ``status`` is what a stateless reply to a broken request should carry
    (400 by default; 505 for a bad version, 513 for an oversized message...).
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(status, reason)


class ScriptError(OpensipsgError):
    """A routing script problem, found while loading or checking it."""

    def __init__(self, message: str, file: str = "<cfg>", line: int = 0, col: int = 0) -> None:
        super().__init__(f"{file}:{line}:{col}: {message}")
        self.message = message
        self.file = file
        self.line = line
        self.col = col


class ConfigError(OpensipsgError):
    """A problem with the command line or the environment (not the script text)."""


class DBError(OpensipsgError):
    """A database backend failure: server unreachable, timeout, SQL error."""

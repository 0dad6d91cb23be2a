"""The MI reply model: a status (code, reason) and a tree of nodes.

A node has an optional ``name``, an optional ``value``, ordered ``attributes``
(name, value) and ``children`` -- exactly what 1.6's ``struct mi_node`` holds,
so the FIFO writer can reproduce 1.6's text byte for byte. Pure: no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

MI_OK = "OK"
MI_MISSING_PARM = "Too few or too many arguments"
MI_BAD_PARM = "Bad parameter"
MI_INTERNAL_ERR = "Server Internal Error"

_NAMED_LINE = re.compile(r"([^\s:][^:]*?):: (.*)\Z", re.S)


@dataclass
class MINode:
    """One node: ``name:: value attr=val`` in the FIFO format."""

    name: str | None = None
    value: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    children: list["MINode"] = field(default_factory=list)

    def add(self, name: str | None = None, value: Any = None, **attributes: Any) -> "MINode":
        """Append a child node (attribute keyword values are converted with str())."""
        node = MINode(name, None if value is None else str(value))
        for key, attr_value in attributes.items():
            node.attr(key, attr_value)
        self.children.append(node)
        return node

    def attr(self, name: str, value: Any) -> "MINode":
        self.attributes.append((name, "" if value is None else str(value)))
        return self

    def walk(self, level: int = 0) -> Iterator[tuple[int, "MINode"]]:
        for child in self.children:
            yield level, child
            yield from child.walk(level + 1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MINode":
        node = cls(data.get("name"), data.get("value"))
        for key, value in (data.get("attributes") or {}).items():
            node.attr(key, value)
        node.children = [cls.from_dict(c) for c in data.get("children") or []]
        return node


@dataclass
class MIReply(MINode):
    """The root: ``code`` and ``reason`` make the first line (``200 OK``).

    ``terminated`` is False for the one-line replies 1.6's FIFO server writes
    itself (``500 command 'x' not available``...), which have no empty line
    after them.
    """

    code: int = 200
    reason: str = MI_OK
    terminated: bool = True

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "reason": self.reason, "nodes": [c.to_dict() for c in self.children]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MIReply":
        reply = cls(code=int(data.get("code", 200)), reason=str(data.get("reason", MI_OK)))
        reply.children = [MINode.from_dict(c) for c in data.get("nodes") or []]
        return reply


def ok(*values: str) -> MIReply:
    """``200 OK`` with one unnamed node per value (``which``, ``arg``...)."""
    reply = MIReply()
    for value in values:
        reply.add(None, value)
    return reply


def error(code: int, reason: str) -> MIReply:
    return MIReply(code=code, reason=reason)


def not_available(command: str) -> MIReply:
    # fifo_fnc.c: mi_fifo_reply(reply_stream, "500 command '%s' not available\n", command)
    return MIReply(code=500, reason=f"command '{command}' not available", terminated=False)


def failed(command: str) -> MIReply:
    # fifo_fnc.c: a handler that returns no tree -> "500 command '%s' failed\n"
    return MIReply(code=500, reason=f"command '{command}' failed", terminated=False)


def as_reply(command: str, result: Any) -> MIReply:
    """Turn what a handler returned into a reply.

    MIReply as is; None or True -> ``200 OK``; False -> failed; a (code, reason)
    pair; a str -> one unnamed node; a list/tuple of str -> one node each, named
    when the line reads ``Name:: value`` (domain_dump returns such lines); a dict
    -> ``key:: value`` nodes.
    """
    if isinstance(result, MIReply):
        return result
    if result is None or result is True:
        return MIReply()
    if result is False:
        return failed(command)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        return MIReply(code=result[0], reason=str(result[1]))
    if isinstance(result, str):
        return ok(result)
    if isinstance(result, dict):
        reply = MIReply()
        for key, value in result.items():
            reply.add(str(key), value)
        return reply
    if isinstance(result, (list, tuple)):
        reply = MIReply()
        for item in result:
            if isinstance(item, MINode):
                reply.children.append(item)
                continue
            named = _NAMED_LINE.match(str(item))
            if named:  # "Domain:: example.com" from a module: a named node
                reply.add(named.group(1), named.group(2))
            else:
                reply.add(None, item)
        return reply
    return ok(str(result))

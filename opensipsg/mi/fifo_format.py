"""The OpenSIPS 1.6 mi_fifo wire format (modules/mi_fifo/mi_writer.c, mi_parser.c,
fifo_fnc.c), both directions. Pure: text in, text out.

Request::

    :<command>:<reply_fifo>\\n
    <arg>\\n                    one line per argument: value, name::value,
    "quoted value"\\n           or a quoted value (\\" escapes; may span lines)
    \\n                         an empty line ends the request

Reply::

    <code> <reason>\\n
    <indent*level>[name:: ]value[ attr=value...]\\n   one line per node, depth-first
    \\n                                               an empty line ends the reply

A node with a name is written ``name:: value`` (the space after ``::`` is there
even when the value is empty); a node without a name is just its value.
"""
from __future__ import annotations

from dataclasses import dataclass

from .tree import MINode, MIReply

MI_CMD_SEPARATOR = ":"
MI_ATTR_VAL_SEP = "::"


def write_node(node: MINode, level: int, indent: str) -> str:
    parts = [indent * level if indent else ""]
    if node.name is not None:
        parts.append(f"{node.name}{MI_ATTR_VAL_SEP} ")
    if node.value is not None:
        parts.append(node.value)
    for name, value in node.attributes:
        parts.append(f" {name}={value}")
    return "".join(parts) + "\n"


def format_reply(reply: MIReply, indent: str = "\t") -> str:
    """The reply as mi_fifo writes it (``mi_write_tree``)."""
    out = [f"{reply.code} {reply.reason}\n"]
    if not reply.terminated:
        return out[0]
    for level, node in reply.walk():
        out.append(write_node(node, level, indent))
    out.append("\n")
    return "".join(out)


def parse_reply(text: str, indent: str = "\t") -> MIReply:
    """A FIFO reply back into a tree (for clients). Node names are recognised by
    ``::``; attributes cannot be told from a value reliably, so they stay in the value."""
    lines = text.split("\n")
    first = lines[0].strip() if lines else ""
    code_text, _, reason = first.partition(" ")
    try:
        code = int(code_text)
    except ValueError:
        code, reason = 500, f"bad reply: {first!r}"
    reply = MIReply(code=code, reason=reason)
    stack: list[MINode] = [reply]
    for line in lines[1:]:
        if line == "":
            continue
        level = 0
        if indent:
            while line.startswith(indent):
                line = line[len(indent):]
                level += 1
        name: str | None = None
        value: str | None = line
        pos = line.find(MI_ATTR_VAL_SEP)
        if pos > 0 and line[pos + 2:pos + 3] in (" ", ""):
            name, value = line[:pos], line[pos + 3:]
        parent = stack[min(level, len(stack) - 1)]
        node = parent.add(name, value)
        del stack[level + 1:]
        stack.append(node)
    return reply


def format_request(command: str, args: list[str], reply_fifo: str = "") -> str:
    """A request as opensipsctl writes it. Arguments containing a newline (or a
    leading/trailing quote or space) are sent quoted, as mi_parser.c reads them."""
    lines = [f":{command}:{reply_fifo}"]
    for arg in args:
        if "\n" in arg or arg.startswith('"') or arg != arg.strip() or arg == "":
            lines.append('"' + arg.replace('"', '\\"') + '"')
        else:
            lines.append(arg)
    return "\n".join(lines) + "\n\n"


class RequestError(ValueError):
    """A request that cannot be run; ``reply_fifo`` is known when one was named."""

    def __init__(self, message: str, command: str = "", reply_fifo: str | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.reply_fifo = reply_fifo


@dataclass(frozen=True, slots=True)
class Request:
    command: str
    reply_fifo: str | None  # None: no reply wanted
    args: tuple[str, ...]


def check_reply_name(name: str) -> bool:
    """fifo_fnc.c get_reply_filename(): no '.', '/' or '\\' in the reply FIFO name."""
    return not any(ch in name for ch in "./\\")


def parse_command_line(line: str) -> tuple[str, str | None]:
    """``:cmd:reply`` -> (cmd, reply or None). RequestError if malformed."""
    line = line.rstrip("\r\n \t")
    if len(line) < 3:
        raise RequestError("command must have at least 3 chars")
    if not line.startswith(MI_CMD_SEPARATOR):
        raise RequestError(f"command must begin with {MI_CMD_SEPARATOR}: {line}")
    command, sep, reply = line[1:].partition(MI_CMD_SEPARATOR)
    if not sep:
        raise RequestError("file separator missing")
    if not command:
        raise RequestError("empty command")
    if not reply:
        return command, None
    if not check_reply_name(reply):
        raise RequestError(f"forbidden filename: {reply}", command)
    return command, reply


def parse_args(lines: list[str]) -> list[str]:
    """Argument lines (without the final empty line) -> values (mi_parse_node).

    ``name::value`` keeps only the value (1.6 commands read node values);
    a quoted value may continue over several lines, joined with ``\\n``.
    """
    values: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index].rstrip("\n")
        index += 1
        text = line.strip()
        if not text:
            continue
        if text.startswith('"'):
            text = line.lstrip()  # keep a CR inside a quoted value (SIP headers)
        else:
            head, sep, rest = text.partition(MI_ATTR_VAL_SEP)
            if not sep:
                if '"' in text:
                    raise RequestError(f"parse error around \" in {text!r}")
                values.append(text)
                continue
            if not rest.strip().startswith('"'):
                rest = rest.strip()
                if '"' in rest:
                    raise RequestError(f"parse error around \" in {text!r}")
                values.append(rest)
                continue
            text = rest.lstrip()
        # quoted value, maybe over several lines
        body = text[1:]
        collected: list[str] = []
        while True:
            end = _closing_quote(body)
            if end >= 0:
                if body[end + 1:].strip():
                    raise RequestError("garbage after a quoted value")
                collected.append(body[:end])
                break
            collected.append(body)
            if index >= len(lines):
                raise RequestError("unterminated quoted value")
            body = lines[index].rstrip("\n")
            index += 1
        values.append("\n".join(collected).replace('\\"', '"'))
    return values


def _closing_quote(text: str) -> int:
    pos = 0
    while True:
        pos = text.find('"', pos)
        if pos < 0:
            return -1
        if pos > 0 and text[pos - 1] == "\\":
            pos += 1
            continue
        return pos


def parse_request(text: str) -> Request:
    """One whole request (command line, argument lines, ending empty line)."""
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise RequestError("command empty")
    command, reply = parse_command_line(lines[0])
    body = lines[1:]
    if "" in [ln.rstrip("\r") for ln in body]:
        body = body[: [ln.rstrip("\r") for ln in body].index("")]
    try:
        args = parse_args(body)
    except RequestError as exc:
        raise RequestError(str(exc), command, reply) from None
    return Request(command, reply, tuple(args))

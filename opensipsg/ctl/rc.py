"""opensipsctlrc: shell-style ``VAR=value`` assignments, parsed, never executed.

1.6's opensipsctl *sources* the file; we read only assignments
(``VAR=value``, ``export VAR=value``, single/double quotes, ``$VAR``/``${VAR}``
references to variables set before) and ignore everything else, so an rc file
cannot run commands. Variables already in the environment are the starting
values (as the shell script's ``if [ -z "$VAR" ]`` defaults let them be);
files read later override earlier ones.
"""
from __future__ import annotations

import os
import re
import shlex
from typing import Iterable, Mapping

SYSTEM_RC_PATHS = (
    "/etc/opensipsg/opensipsctlrc",
    "/usr/local/etc/opensips/opensipsctlrc",
)
# OPENSIPSCTL_SYSTEM_RC (':'-separated; empty = none) replaces the system-wide files,
# for packagers with other locations and for tests that must not see this machine's
RC_PATHS = (*SYSTEM_RC_PATHS, "~/.opensipsctlrc")


def default_paths(environ: Mapping[str, str]) -> tuple[str, ...]:
    override = environ.get("OPENSIPSCTL_SYSTEM_RC")
    if override is None:
        return RC_PATHS
    return (*(p for p in override.split(":") if p), "~/.opensipsctlrc")

DEFAULTS: dict[str, str] = {
    "SIP_DOMAIN": "",
    "DBENGINE": "",
    "DBURL": "",
    "DB_PATH": "",
    "DBHOST": "localhost",
    "DBPORT": "",
    "DBNAME": "opensips",
    "DBRWUSER": "opensips",
    "DBRWPW": "opensipsrw",
    "DBROUSER": "opensipsro",
    "DBROPW": "opensipsro",
    "DBROOTUSER": "root",
    "DBROOTPW": "",
    "STORE_PLAINTEXT_PW": "1",
    "CTLENGINE": "FIFO",
    "MI_CONNECTOR": "",
    "OSIPS_FIFO": "/tmp/opensips_fifo",
    "FIFO_REPLY_DIR": "/tmp/",
    "MI_JSON_URL": "http://127.0.0.1:8888/json",
    "MI_TIMEOUT": "10",
    "ALIASES_TYPE": "",
    "VERIFY_ACL": "1",
    "ACL_GROUPS": "local ld int voicemail free-pstn",
    "PID_FILE": "/var/run/opensips.pid",
    "UL_TABLE": "location",
    "ALS_TABLE": "aliases",
    "WATCH_PERIOD": "2",
    "VERBOSE": "0",
}

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(text: str, known: Mapping[str, str]) -> str:
    return _REFERENCE.sub(lambda m: known.get(m.group(1) or m.group(2), ""), text)


def parse_rc(text: str, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """The assignments in ``text`` (values unquoted, ``$VAR`` expanded from
    ``known`` and earlier lines; single-quoted text is not expanded)."""
    values: dict[str, str] = {}
    scope = dict(known or {})
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if not match:
            continue
        name, raw = match.group(1), match.group(2)
        try:
            lexer = shlex.shlex(raw, posix=True)
            lexer.whitespace_split = True
            lexer.commenters = "#"
            words = list(lexer)
        except ValueError:
            continue  # unbalanced quotes: not an assignment we can trust
        if len(words) > 1:
            continue  # VAR=value command ...: a command with an environment, skip it
        value = words[0] if words else ""
        if "'" not in raw:
            value = _expand(value, scope)
        values[name] = value
        scope[name] = value
    return values


def load(extra_file: str | None = None, paths: Iterable[str] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Defaults, then the environment, then each existing rc file, then ``-c FILE``."""
    env = os.environ if environ is None else environ
    if paths is None:
        paths = default_paths(env)
    config = dict(DEFAULTS)
    for name in DEFAULTS:
        if env.get(name):
            config[name] = env[name]
    files = [os.path.expanduser(p) for p in paths]
    if extra_file:
        files.append(extra_file)
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            if path == extra_file:
                raise
            continue
        config.update(parse_rc(text, config))
    return config

"""Statistics counters, named as OpenSIPS 1.6 names them (``group:name``).

A counter is either a stored number (``inc``/``set``) or a getter evaluated when
read (e.g. ``usrloc:registered_users``). Names without a group go to ``core``.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable


class Statistics:
    def __init__(self) -> None:
        # stored numbers by full "group:name"; a hot path may add to counts[name] itself
        # (a method call per counter costs more than the addition)
        self.counts: defaultdict[str, int] = defaultdict(int)
        self._getters: dict[str, Callable[[], int]] = {}
        self._no_reset: set[str] = set()

    @staticmethod
    def _key(name: str) -> str:
        return name if ":" in name else f"core:{name}"

    def register(self, name: str, getter: Callable[[], int] | None = None, no_reset: bool = False) -> None:
        key = self._key(name)
        if getter is not None:
            self._getters[key] = getter
        else:
            self.counts.setdefault(key, 0)
        if no_reset or getter is not None:
            self._no_reset.add(key)

    def inc(self, name: str, n: int = 1) -> None:
        self.counts[name if ":" in name else f"core:{name}"] += n

    def set(self, name: str, value: int) -> None:
        self.counts[self._key(name)] = value

    def get(self, name: str) -> int | None:
        key = self._key(name)
        getter = self._getters.get(key)
        if getter is not None:
            return int(getter())
        return self.counts.get(key)

    def items(self, selector: str = "all") -> list[tuple[str, int]]:
        """``all``, ``group:`` (every stat of a group) or ``group:name`` / ``name``."""
        keys = sorted(set(self.counts) | set(self._getters))
        if selector in ("all", "all:", ""):
            chosen = keys
        elif selector.endswith(":"):
            chosen = [k for k in keys if k.startswith(selector)]
        else:
            wanted = self._key(selector)
            chosen = [k for k in keys if k == wanted or k.split(":", 1)[1] == selector]
        return [(k, self.get(k) or 0) for k in chosen]

    def reset(self, name: str) -> bool:
        key = self._key(name)
        if key in self._no_reset or key not in self.counts:
            return False
        self.counts[key] = 0
        return True

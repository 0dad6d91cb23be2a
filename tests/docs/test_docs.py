"""docs/modules/ is generated from the registry: the committed pages must match."""
from __future__ import annotations

from pathlib import Path

from opensipsg.docs import pages

FOLDER = Path(__file__).resolve().parents[2] / "docs" / "modules"


def test_committed_pages_match_the_code():
    generated = pages()
    committed = {path.name: path.read_text() for path in FOLDER.glob("*.md")}
    assert sorted(committed) == sorted(generated), "run: python -m opensipsg.docs --write docs/modules"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} is stale: run python -m opensipsg.docs --write docs/modules"


def test_every_module_page_lists_its_functions():
    generated = pages()
    assert "| `t_relay` | 0-2 | request, failure |" in generated["tm.md"]
    assert "`save`" in generated["registrar.md"] and "| `fr_timer` | int | `30` |" in generated["tm.md"]
    assert "| `setflag` |" in generated["core.md"] and "`$ru`" in generated["core.md"]

"""docs/dependencies.md's table of declared ranges and tested versions, read by the tests that check it
against pyproject.toml and the installed environment (test_dependencies, test_golden_summary)."""
from __future__ import annotations

import importlib.metadata as metadata
import re
from pathlib import Path

from packaging.utils import canonicalize_name

TABLE = Path(__file__).resolve().parents[1] / "docs" / "dependencies.md"
VERSION = re.compile(r"\d+(?:\.\d+)+(?:\.?(?:post|rc|a|b)\d+)?")


def docs_table() -> dict[str, list[str]]:
    """distribution -> [import, declared, why, lowest tested, highest tested]."""
    rows = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.match(r"[<>=~]", cells[2]):
            rows[canonicalize_name(cells[0].split(" (")[0])] = cells[1:]
    return rows


def at_highest_tested(*names: str) -> bool:
    """Whether these distributions are installed at the table's "highest tested" versions (the
    development environment, where golden files are made)."""
    rows = docs_table()
    return all(metadata.version(n) == rows[canonicalize_name(n)][4] for n in names)

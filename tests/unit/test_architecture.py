"""The architecture, enforced: who may import whom (see docs/architecture.md).

Every module under tui/ is read as source (nothing is imported), so a new module is checked the
day it is added. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tui"

CORE_LAYERS: list[set[str]] = [
    {"text", "errors", "settings", "lazy"},
    {"net", "mail"},
    {"storage"},
    {"secrets", "sharing", "delivery"},
    {"oauth"},
    {"setup", "imports"},
    {"sync"},
    {"service"},
]
"""Rooms of tui.core from the bottom up: a room may import its own layer's rooms only when it is
the same room, and any room of a lower layer; never a room above it."""

UI_ONLY = (
    "textual",
    "rich",
    "tui.screens",
    "tui.widgets",
    "tui.app",
    "tui.commands",
    "tui.messages",
)
"""What the domain core must never import: the UI, and the CLI below."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module `path` imports, relative imports resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] != ["tui", "core"] or len(parts) < 3:
        return None
    return parts[2]


def _layer(room: str) -> int:
    for index, rooms in enumerate(CORE_LAYERS):
        if room in rooms:
            return index
    raise AssertionError(f"tui.core.{room} is in no layer: add it to CORE_LAYERS and the docs")


CORE_MODULES = sorted((PACKAGE / "core").rglob("*.py"))


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: _module_name(p))
def test_core_imports_no_ui_and_no_cli(path: Path) -> None:
    bad = {
        name
        for name in _imports(path)
        if any(name == forbidden or name.startswith(forbidden + ".") for forbidden in UI_ONLY)
        or name == "tui.cli"
        or name.startswith("tui.cli.")
        or name in {"tui.fetch_worker", "tui.services"}
    }
    assert not bad, f"{_module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: _module_name(p))
def test_core_rooms_import_only_downwards(path: Path) -> None:
    own = _room(_module_name(path))
    if own is None or own == "__init__":
        return
    upward = []
    for name in _imports(path):
        other = _room(name)
        if other is None or other == own or other not in {r for rs in CORE_LAYERS for r in rs}:
            continue
        if _layer(other) >= _layer(own):
            upward.append(name)
    assert not upward, f"{_module_name(path)} (layer {_layer(own)}) imports {sorted(upward)}"


def test_every_core_room_has_a_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in (PACKAGE / "core").iterdir()}
    rooms = {room for room in rooms if not room.startswith("_")}
    for room in rooms:
        _layer(room)


def test_no_importlib_detours_in_core() -> None:
    """A string import would hide an upward dependency from the checks above."""
    for path in CORE_MODULES:
        source = path.read_text(encoding="utf-8")
        if "import_module(" in source and "migrations" not in path.parts:
            module = _module_name(path)
            # lazy.py imports a face's own submodules; secrets loads keyring backends by name.
            allowed = module == "tui.core.lazy" or module.startswith("tui.core.secrets")
            assert allowed, f"{module} imports by string"


def test_headless_fetch_loads_no_textual() -> None:
    """The same core runs from cron: importing the CLI and the fetch path pulls in no Textual."""
    code = (
        "import sys\n"
        "import tui.cli, tui.core.sync, tui.core.net, tui.core.storage, tui.core.secrets\n"
        "import tui.core.setup, tui.core.sharing, tui.core.mail, tui.core.text\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""

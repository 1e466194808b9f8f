"""Numbered schema migrations, applied in order on start.

Each module `mNNNN_*.py` is migration number NNNN (its name is the one place the number is
written). It lists portable `STATEMENTS` (run in order through `Dialect.sql`, the usual case) or
defines its own `apply(db, dialect)` (dialect-specific SQL, backfills). Migrations are frozen SQL:
they never import the current models, so an old database upgrades exactly as it was built.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import Any

from tui.core.storage.dialect import Dialect


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Any, Dialect], None]


def run_statements(db: Any, dialect: Dialect, statements: list[str]) -> None:
    """Run portable SQL in order, its `{serial_pk}`-style words filled in for the dialect."""
    for statement in statements:
        db.execute_sql(dialect.sql(statement))


def _load(module: ModuleType) -> Migration:
    name = module.__name__.rsplit(".", 1)[-1]
    apply = vars(module).get("apply") or partial(run_statements, statements=module.STATEMENTS)
    return Migration(int(name[1:5]), name, apply)


def all_migrations() -> list[Migration]:
    """Every migration this program knows, in order of their (unique) numbers."""
    found = [
        _load(importlib.import_module(f"{__name__}.{info.name}"))
        for info in pkgutil.iter_modules(__path__)
        if info.name.startswith("m") and info.name[1:5].isdigit()
    ]
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or (versions and versions[0] < 1):
        raise RuntimeError(f"migration numbers must be unique and positive: {versions}")
    return found

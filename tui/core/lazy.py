"""Package faces that load their modules on first use.

`poptui fetch` with nothing new must not pay for the email package, peewee or keyring just
because it imported a package's face; each face names where its exports live and this builds
the module `__getattr__` that imports the home module when a name is first asked for.
"""

from __future__ import annotations

import importlib
import sys

TYPE_CHECKING = False  # no `typing` import for `poptui fetch` with nothing new
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps an exported name to its submodule."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    return __getattr__


def homes_of(modules: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """`{"module": ("A", "B")}` turned into `{"A": "module", "B": "module"}`."""
    return {name: module for module, names in modules.items() for name in names}


def import_without(name: str, unwanted: tuple[str, ...]) -> None:
    """Import `name` while the modules in `unwanted` cannot be imported.

    For a library that probes optional drivers eagerly when this run will never use them:
    peewee imports psycopg2 (and tries four more drivers) on import, a tenth of a "nothing
    new" `poptui fetch` on SQLite. Afterwards those modules import normally again; only
    `name` has already settled on not having them.
    """
    if name in sys.modules:
        return
    blocked = [module for module in unwanted if module not in sys.modules]
    for module in blocked:
        sys.modules[module] = None  # type: ignore[assignment]  # makes `import module` fail
    try:
        importlib.import_module(name)
    finally:
        for module in blocked:
            del sys.modules[module]

"""`tui.core.sync`'s public face: every name resolves, and the headless fetch path stays lean."""

from __future__ import annotations

import subprocess
import sys

import tui.core.sync as sync


def test_every_public_name_resolves() -> None:
    for name in sync.__all__:
        assert getattr(sync, name) is not None, name


def test_the_fetch_path_loads_neither_textual_nor_the_check_nor_the_email_package() -> None:
    code = (
        "import sys\n"
        "import tui.cli\n"
        "tui.cli._import_peewee(None)  # as main() does: no driver SQLite never uses\n"
        "import tui.cli.fetch\n"
        "from tui.core.sync import fetch_account, FetchOptions\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('textual', 'email')\n"
        "          or m in ('tui.core.sync.check', 'tui.core.sync.schedule')\n"
        "          or m.startswith('tui.core.setup')]\n"
        "print(loaded)\n"
        "raise SystemExit(1 if loaded else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

"""Runs `poptui ARGS` in-process, as a person would from a shell, against throwaway stores."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tui.cli import Console, main

PASSPHRASE = "correct horse battery"
"""The encrypted password file's passphrase, given as scripts give it (the environment)."""


@dataclass(frozen=True)
class Run:
    """What one command did: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str


class PoptuiRunner:
    """`poptui` against a fresh SQLite file and data directory under `tmp_path`."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.url = f"sqlite:///{tmp_path}/cli.db"
        self._monkeypatch = monkeypatch
        monkeypatch.setenv("POPTUI_DATABASE", self.url)
        monkeypatch.setenv("POPTUI_SECRETS_PASSPHRASE", PASSPHRASE)
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    @property
    def secrets_file(self) -> Path:
        """Where `use_file_store` keeps the encrypted password file."""
        return self.tmp_path / "secrets.cfg"

    def __call__(self, *argv: str, stdin: str = "") -> Run:
        out, err = io.StringIO(), io.StringIO()
        self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            code = main(list(argv), Console(out, err))
        except SystemExit as exit_:  # argparse's usage errors
            code = int(exit_.code or 0)
        return Run(code, out.getvalue(), err.getvalue())

    def use_file_store(self) -> None:
        """Keep passwords in the encrypted file, as `poptui secrets use file` does."""
        result = self("secrets", "use", "file", "--path", str(self.secrets_file))
        assert result.code == 0, result.err

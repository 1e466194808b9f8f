"""The command table in `tui.cli`: every command the grammar offers has a verb group that runs it,
and importing the command line loads none of them (each is imported when its command runs)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import tui.cli
from tui.cli.parser import build_parser


def _commands() -> set[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return set(actions[0].choices)


def test_every_command_has_a_verb_group_with_run() -> None:
    table = tui.cli._VERB_GROUPS
    assert set(table) == _commands()
    for command, module in table.items():
        group = importlib.import_module(f"tui.cli.{module}")
        assert callable(group.run), command


def test_importing_the_cli_loads_no_verb_group() -> None:
    groups = sorted({f"tui.cli.{m}" for m in tui.cli._VERB_GROUPS.values()})
    code = f"import sys, tui.cli\nprint([m for m in {groups!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"

"""`poptui export` (issue #13.2): mail fetched from Dovecot, exported, and read back by Python's
`mailbox` and by Dovecot itself serving the exported Maildir over POP3: the same bytes."""

from __future__ import annotations

import io
import mailbox
from pathlib import Path

import pytest

from tests.conftest import PopUser
from tests.integration.test_delivery_dovecot import reader, served, tricky_messages
from tests.servers.dovecot import DovecotServer
from tests.unit.cli_helpers import PoptuiRunner
from tui.cli.export import ProgressBar
from tui.core.delivery.mbox import unescape

__all__ = ["reader"]  # the fixture, shared with the delivery tests


@pytest.fixture
def poptui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PoptuiRunner:
    return PoptuiRunner(tmp_path, monkeypatch)


def _fetched(
    poptui: PoptuiRunner, dovecot: DovecotServer, user: PopUser
) -> tuple[list[bytes], list[bytes]]:
    """Fill the mailbox, fetch it with poptui: the messages, and what Dovecot served of them."""
    messages = tricky_messages()
    dovecot.deliver_many(user.name, messages)
    original = served(dovecot, user)
    poptui.use_file_store()
    added = poptui(
        *("account", "add", "Box", "--email", f"{user.name}@example.com"),
        *("--incoming-host", "127.0.0.1", "--incoming-port", str(dovecot.plain_port)),
        *("--incoming-security", "none", "--username", user.name),
        "--password-stdin",
        stdin=user.password + "\n",
    )
    assert added.code == 0, added.err
    fetched = poptui("fetch", "--account", "Box")
    assert fetched.code == 0, fetched.err
    return messages, original


def test_export_to_maildir_is_served_by_dovecot_byte_for_byte(
    poptui: PoptuiRunner,
    dovecot: DovecotServer,
    pop_user: PopUser,
    reader: PopUser,
    tmp_path: Path,
) -> None:
    messages, original = _fetched(poptui, dovecot, pop_user)
    target = dovecot.maildir(reader.name)

    result = poptui("export", "Box", "--maildir", str(target))

    assert result.code == 0, result.err
    assert result.out.startswith("Exported 4 messages of Box to maildir")
    assert result.err == ""  # no progress bar into a file or a pipe
    assert sorted(served(dovecot, reader)) == sorted(original)
    box = mailbox.Maildir(target, create=False)
    assert sorted(box.get_bytes(k) for k in box.keys()) == sorted(messages)  # noqa: SIM118
    again = poptui("export", "Box", "--maildir", str(target))
    assert "Exported 0 messages" in again.out and "(4 were there already)" in again.out
    assert len(dovecot.maildir_files(reader.name)) == 4


def test_export_to_mbox_reads_back_and_filters(
    poptui: PoptuiRunner, dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    messages, _ = _fetched(poptui, dovecot, pop_user)
    path = tmp_path / "out.mbox"

    assert poptui("export", "Box", "--mbox", str(path)).code == 0

    box = mailbox.mbox(path, create=False)
    exported = [unescape(box.get_bytes(k)) for k in box.keys()]  # noqa: SIM118
    assert sorted(exported) == sorted(messages)
    assert b"\n>From the start of a line" in path.read_bytes()
    found = tmp_path / "found.mbox"
    assert poptui("export", "Box", "--mbox", str(found), "--search", "number 2").code == 0
    matches = mailbox.mbox(found, create=False)
    found_bytes = [unescape(matches.get_bytes(k)) for k in matches.keys()]  # noqa: SIM118
    assert found_bytes == [messages[1]]
    later = poptui("export", "Box", "--mbox", str(tmp_path / "later"), "--since", "2999-01-01")
    assert "Exported 0 messages" in later.out


def test_export_refusals_are_worded(
    poptui: PoptuiRunner, dovecot: DovecotServer, pop_user: PopUser, tmp_path: Path
) -> None:
    _fetched(poptui, dovecot, pop_user)
    bad_date = poptui("export", "Box", "--mbox", str(tmp_path / "x"), "--since", "yesterday")
    assert bad_date.code == 1 and "is not a date" in bad_date.err
    (tmp_path / "file").write_text("not a folder")
    not_dir = poptui("export", "Box", "--maildir", str(tmp_path / "file"))
    assert not_dir.code == 1
    assert "Could not export to Maildir" in not_dir.err and "not a folder" in not_dir.err
    both = poptui("export", "Box")
    assert both.code == 2


def test_progress_bar_draws_in_place() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(1, 4)
    bar(4, 4)
    bar.close()
    assert stream.getvalue().startswith("\rExporting [#######")
    assert stream.getvalue().endswith("4/4\n")

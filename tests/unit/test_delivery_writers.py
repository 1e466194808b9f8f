"""The delivery writers played against: full disks, links and files other users planted, held
locks, MDAs that hang or ask to retry, LMTP servers that refuse, mail built to break mbox."""

from __future__ import annotations

import mailbox
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.servers.fake_lmtp import FakeLmtp
from tui.core.delivery import DeliveryError, parse_target
from tui.core.delivery.lmtp import deliver_lmtp
from tui.core.delivery.maildir import Maildir
from tui.core.delivery.mbox import Mbox, escape, unescape
from tui.core.delivery.mda import run_mda

NOBODY = 65534
WHEN = datetime(2026, 11, 30, 1, 2, 3)
MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nFrom here\r\n>From there\r\n.\r\n"
ROOT = os.geteuid() == 0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real ENOSPC, not a simulated one (needs root to mount)."""
    where = tmp_path / "tiny"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def shared_dir(tmp_path: Path) -> Path:
    """A world-writable sticky directory, like /tmp: anyone may plant entries in it."""
    where = tmp_path / "shared"
    where.mkdir()
    where.chmod(0o1777)
    return where


# ---------------------------------------------------------------- Maildir


def test_maildir_writes_once_even_after_a_reader_moved_it_to_cur(tmp_path: Path) -> None:
    folder = Maildir(str(tmp_path / "Mail"))
    assert folder.deliver(MESSAGE, "123.Pkey.host")
    assert not folder.deliver(MESSAGE, "123.Pkey.host")
    (tmp_path / "Mail/new/123.Pkey.host").rename(tmp_path / "Mail/cur/123.Pkey.host:2,S")
    again = Maildir(str(tmp_path / "Mail"))
    assert not again.deliver(MESSAGE, "123.Pkey.host", look_in_cur=True)
    box = mailbox.Maildir(tmp_path / "Mail", create=False)
    assert [box.get_bytes(k) for k in box.keys()] == [MESSAGE]  # noqa: SIM118
    assert os.listdir(tmp_path / "Mail/tmp") == []


def test_maildir_on_a_full_disk_says_so_and_leaves_no_debris(tiny_disk: Path) -> None:
    folder = Maildir(str(tiny_disk / "Mail"), label="Maildir ~/Mail")
    with pytest.raises(DeliveryError) as caught:
        folder.deliver(MESSAGE * 5000, "1.Pbig.host")
    assert caught.value.message == "Could not deliver to Maildir ~/Mail: No space left on device"
    assert os.listdir(tiny_disk / "Mail/tmp") == os.listdir(tiny_disk / "Mail/new") == []


@pytest.mark.skipif(not ROOT, reason="planting a link owned by another user needs root")
def test_maildir_refuses_a_link_planted_by_another_user(shared_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victims-mail"
    victim.mkdir()
    planted = shared_dir / "Mail"
    planted.symlink_to(victim)
    os.lchown(planted, NOBODY, NOBODY)
    with pytest.raises(DeliveryError) as caught:
        Maildir(str(planted))
    assert "symbolic link owned by another user" in caught.value.message
    assert list(victim.iterdir()) == []


@pytest.mark.skipif(not ROOT, reason="a folder owned by another user needs root")
def test_maildir_refuses_a_folder_another_user_planted_in_a_shared_dir(shared_dir: Path) -> None:
    planted = shared_dir / "Mail"
    planted.mkdir()
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(DeliveryError, match="belongs to another user"):
        Maildir(str(planted))


def test_maildir_follows_my_own_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (tmp_path / "link").symlink_to(real)
    Maildir(str(tmp_path / "link")).deliver(MESSAGE, "1.Pa.host")
    assert (real / "new/1.Pa.host").read_bytes() == MESSAGE


# ---------------------------------------------------------------- mbox


def test_mboxrd_escaping_round_trips_every_from_line() -> None:
    raw = b"From: x\n\nFrom a\n>From b\n>>From c\nFromage\n From d\n"
    assert escape(raw) == b"From: x\n\n>From a\n>>From b\n>>>From c\nFromage\n From d\n"
    assert unescape(escape(raw)) == raw


def test_mbox_read_back_by_python_mailbox(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    with Mbox(str(path)).locked() as box:
        box.append(MESSAGE, WHEN)
        box.append(b"Subject: no newline at the end", WHEN)
        box.append(b"Return-Path: <bounce@example.org>\nSubject: s\n\nbody\n", WHEN)
    read = mailbox.mbox(path, create=False)
    bodies = [unescape(read.get_bytes(k)) for k in read.keys()]  # noqa: SIM118
    assert bodies[0] == MESSAGE
    assert bodies[1] == b"Subject: no newline at the end\n"
    assert (
        read.get_message(read.keys()[2]).get_from() == "bounce@example.org Mon Nov 30 01:02:03 2026"
    )
    assert not (tmp_path / "inbox.lock").exists()


def test_mbox_after_a_file_cut_short_still_starts_on_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    path.write_bytes(b"From x Mon Nov 30 01:02:03 2026\nSubject: cut\n\npartial")
    with Mbox(str(path)).locked() as box:
        box.append(MESSAGE, WHEN)
    assert len(mailbox.mbox(path, create=False)) == 2


def test_mbox_on_a_full_disk_is_cut_back_to_what_it_was(tiny_disk: Path) -> None:
    path = tiny_disk / "inbox"
    with Mbox(str(path), label="mbox ~/inbox").locked() as box:
        box.append(MESSAGE, WHEN)
        before = path.read_bytes()
        with pytest.raises(DeliveryError) as caught:
            box.append(MESSAGE * 5000, WHEN)
    assert caught.value.message == "Could not deliver to mbox ~/inbox: No space left on device"
    assert path.read_bytes() == before


def test_mbox_waits_for_a_dotlock_then_gives_up_in_words(tmp_path: Path) -> None:
    path = tmp_path / "inbox"
    (tmp_path / "inbox.lock").write_text("4242\n")
    started = time.monotonic()
    with (
        pytest.raises(DeliveryError, match="held by another program"),
        Mbox(str(path)).locked(wait=0.3),
    ):
        pass
    assert time.monotonic() - started < 5
    assert (tmp_path / "inbox.lock").exists()  # someone else's lock is not ours to remove


def test_mbox_removes_a_stale_dotlock(tmp_path: Path) -> None:
    lock = tmp_path / "inbox.lock"
    lock.write_text("4242\n")
    os.utime(lock, (time.time() - 5000, time.time() - 5000))
    with Mbox(str(tmp_path / "inbox")).locked(wait=0.3) as box:
        box.append(MESSAGE, WHEN)
    assert not lock.exists()


def test_mbox_respects_procmails_lock(tmp_path: Path) -> None:
    """procmail's own lockfile(1) holds the dot-lock: we wait for it, then deliver."""
    path = tmp_path / "inbox"
    holder = subprocess.Popen(["lockfile", "-1", "-r", "0", f"{path}.lock"])
    assert holder.wait(timeout=10) == 0
    with pytest.raises(DeliveryError), Mbox(str(path)).locked(wait=0.3):
        pass
    (tmp_path / "inbox.lock").unlink()
    with Mbox(str(path)).locked(wait=0.3) as box:
        box.append(MESSAGE, WHEN)


@pytest.mark.skipif(not ROOT, reason="planting a file owned by another user needs root")
def test_mbox_refuses_links_and_files_planted_by_others(shared_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "bashrc"
    secret.write_bytes(b"keep me\n")
    link = shared_dir / "inbox"
    link.symlink_to(secret)
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(DeliveryError, match="symbolic link owned by another user"):
        Mbox(str(link))
    planted = shared_dir / "trap"
    planted.write_bytes(b"")
    planted.chmod(0o666)
    os.chown(planted, NOBODY, NOBODY)
    with pytest.raises(DeliveryError, match="belongs to another user"), Mbox(str(planted)).locked():
        pass
    assert secret.read_bytes() == b"keep me\n" and planted.read_bytes() == b""


# ---------------------------------------------------------------- MDA


def test_mda_that_hangs_is_killed_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    target = parse_target(f"mda:sh -c 'sleep 30; touch {marker}'")
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"did not finish within 0\.5 seconds"):
        run_mda(target, MESSAGE, timeout=0.5)
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    assert not marker.exists()


def test_mda_tempfail_is_worded() -> None:
    with pytest.raises(DeliveryError) as caught:
        run_mda(parse_target("mda:sh -c 'echo quota exceeded >&2; exit 75'"), MESSAGE)
    assert caught.value.message == (
        "Could not deliver to MDA sh -c 'echo quota exceeded >&2; exit 75': it asked to try "
        "again later (exit status 75, EX_TEMPFAIL) (quota exceeded)"
    )


def test_mda_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    # With a shell, `; touch` would run; without one they are two more words for sh's $0, $1.
    run_mda(parse_target(f"mda:sh -c 'cat > /dev/null' x; touch {marker}"), MESSAGE)
    assert not marker.exists()


def test_mda_missing_and_its_stderr_cleaned(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="No such file or directory"):
        run_mda(parse_target("mda:/nonexistent/procmail"), MESSAGE)
    with pytest.raises(DeliveryError) as caught:
        run_mda(parse_target("mda:sh -c 'printf \"\\033]0;owned\\007bad\" >&2; exit 1'"), MESSAGE)
    assert "\x1b" not in caught.value.message and "exit status 1" in caught.value.message


def test_mda_gets_the_exact_bytes(tmp_path: Path) -> None:
    out = tmp_path / "copy"
    run_mda(parse_target(f"mda:sh -c 'cat > {out}'"), MESSAGE)
    assert out.read_bytes() == MESSAGE


# ---------------------------------------------------------------- LMTP


@pytest.fixture
def lmtp_socket(tmp_path: Path) -> Path:
    return tmp_path / "lmtp.sock"


def test_lmtp_dot_stuffs_and_ends_lines_with_crlf(lmtp_socket: Path) -> None:
    server = FakeLmtp(lmtp_socket)
    try:
        deliver_lmtp(parse_target(f"lmtp:{lmtp_socket}"), b"S: x\n\n.\n..x\nend", "bob")
    finally:
        server.close()
    assert server.received == [b"S: x\r\n\r\n..\r\n...x\r\nend\r\n"]
    assert b"RCPT TO:<bob>" in server.commands


@pytest.mark.parametrize(
    ("replies", "words"),
    [
        ({"RCPT": b"452 4.2.2 Mailbox full\r\n"}, "RCPT TO bob was refused: 452 4.2.2 Mailbox"),
        ({"DATA-END": b"550 5.7.1 rejected\r\n"}, "the message for bob was refused: 550"),
        ({"GREETING": b"554 go away\r\n"}, "the greeting was refused: 554"),
        ({"RCPT": b"452 \x1b[2Jfull\r\n"}, "452 full (temporary"),
    ],
)
def test_lmtp_refusals_are_worded(lmtp_socket: Path, replies: dict[str, bytes], words: str) -> None:
    server = FakeLmtp(lmtp_socket, replies)
    try:
        with pytest.raises(DeliveryError) as caught:
            deliver_lmtp(parse_target(f"lmtp:{lmtp_socket}"), MESSAGE, "bob")
    finally:
        server.close()
    assert words in caught.value.message
    assert "\x1b" not in caught.value.message


def test_lmtp_nobody_listening(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError, match="No such file or directory"):
        deliver_lmtp(parse_target(f"lmtp:{tmp_path}/none"), MESSAGE, "bob")
    with pytest.raises(DeliveryError, match="Connection refused"):
        deliver_lmtp(parse_target("lmtp:127.0.0.1:1"), MESSAGE, "bob", timeout=2)

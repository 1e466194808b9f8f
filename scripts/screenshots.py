"""SVG screenshots of every screen, for the README: `python scripts/screenshots.py`.

Each shot starts the real app on a fresh temporary database filled with sample mailboxes and
mail (no real passwords, a fixed clock, UTC), drives it with keys like a user would, and saves
`screenshots/<name>.svg` at 100x30. Add a screen by adding a `Shot` to `SHOTS`; a shot whose
screen is not there (a key that does nothing yet) fails loudly instead of saving the wrong one.

    python scripts/screenshots.py                  # all shots
    python scripts/screenshots.py --only help      # some shots
    python scripts/screenshots.py --list           # names and what each shows
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Input, TextArea  # noqa: E402

from tui.app import PoptuiApp, make_app  # noqa: E402
from tui.core.net.pop3.client import CertificateInfo  # noqa: E402
from tui.core.secrets import MemoryStore, SecretKind, probe_keyring  # noqa: E402
from tui.core.settings import AccountSettings, DeletePolicy, Security  # noqa: E402
from tui.core.storage.accounts import AccountStore  # noqa: E402
from tui.core.storage.models import Account, Message, database_proxy  # noqa: E402
from tui.core.sync.batch import BatchWriter  # noqa: E402
from tui.core.sync.engine import SyncProgress  # noqa: E402
from tui.messages import FetchProgress  # noqa: E402
from tui.screens.dialogs import CertificateTrustDialog  # noqa: E402
from tui.services import TestResult  # noqa: E402
from tui.widgets.mailbox_table import MailboxTable  # noqa: E402

OWNER = "ana"
NOW = datetime(2025, 3, 14, 9, 30, 0)
"""The fixed clock (naive UTC, like the database)."""
SIZE = (100, 30)
SAMPLE_PASSWORD = "sample-password-not-real"
ENCRYPTED_FILE = Path("/home/ana/.local/share/poptui/secrets.cfg")

Steps = Callable[[Pilot[None]], Awaitable[None]]


@dataclass(frozen=True)
class Shot:
    name: str
    """File name without .svg; also the --only name."""
    shows: str
    steps: Steps
    expect: str
    """Class name of the screen that must be on top when the shot is taken."""
    highlight: str = "Work"
    """The mailbox under the cursor on the list when the steps start."""


# ------------------------------------------------------------------ sample data

SENDERS = [
    ("Marta Silva", "marta.silva@example.org"),
    ("Build server", "ci@builds.example.com"),
    ("João Pereira", "joao@example.net"),
    ("Calendar", "calendar@example.com"),
    ("Lena Fischer", "lena.fischer@example.de"),
    ("Accounts payable", "invoices@supplier.example"),
]
SUBJECTS = [
    "Quarterly figures: first draft for review",
    "Build #4182 passed on main",
    "Lunch on Friday?",
    "Invitation: planning meeting, Mon 10:00",
    "Re: the POP3 migration plan",
    "Invoice 2025-0317 for February",
    "Slides from yesterday's talk",
    "Re: Re: holiday rota",
]
READER_BODY = """Hi Ana,

Here is the first draft of the quarterly figures. Revenue is up 4% on the last quarter;
the new mailbox service accounts for most of it.

Two things need a decision before Friday:

  1. whether we keep the old ISP mailboxes until the contracts end in June, and
  2. who reviews the support numbers (I would suggest João).

The spreadsheet is attached. Comments welcome, in the file or by mail.

Thanks,
Marta
"""


def raw_message(index: int, when: datetime) -> bytes:
    name, address = SENDERS[index % len(SENDERS)]
    subject = SUBJECTS[index % len(SUBJECTS)]
    body = f"Message {index} of the sample mailbox.\r\n"
    return (
        f"From: {formataddr((name, address))}\r\nTo: Ana Lima <ana@example.com>\r\n"
        f"Subject: {subject}\r\nDate: {format_datetime(when.replace(tzinfo=UTC))}\r\n"
        f"Message-ID: <sample{index}@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode() + body.encode()


def reader_message(when: datetime) -> bytes:
    boundary = "poptui-sample-boundary"
    body = READER_BODY.replace("\n", "\r\n")
    return (
        "From: Marta Silva <marta.silva@example.org>\r\nTo: Ana Lima <ana@example.com>\r\n"
        f"Cc: {formataddr(('João Pereira', 'joao@example.net'))}\r\n"
        "Subject: Quarterly figures: first draft for review\r\n"
        f"Date: {format_datetime(when.replace(tzinfo=UTC))}\r\n"
        "Message-ID: <figures@example.org>\r\n"
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        f"--{boundary}\r\nContent-Type: application/vnd.oasis.opendocument.spreadsheet\r\n"
        'Content-Disposition: attachment; filename="figures-q1.ods"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + "UEsDBBQAAAAAAPoptui" * 40
        + f"\r\n--{boundary}--\r\n"
    ).encode()


def add_account(
    store: AccountStore,
    secrets: MemoryStore,
    name: str,
    email: str,
    host: str,
    *,
    activate: bool = False,
    **state: object,
) -> Account:
    settings = AccountSettings(
        name=name,
        email=email,
        incoming_host=host,
        incoming_security=Security.SSL,
        username=email,
        outgoing_host=host.replace("pop", "smtp", 1),
        delete_policy=DeletePolicy.LEAVE,
    )
    account = store.create(settings, activate=activate)
    secrets.set(account.secret_key, SecretKind.INCOMING, SAMPLE_PASSWORD)
    if state:
        Account.update(**state).where(Account.id == account.id).execute()
    return Account.get_by_id(account.id)


def fill_sample_data(secrets: MemoryStore) -> None:
    """Three mailboxes (active and fine, failing, disabled) and mail in the active one."""
    store = AccountStore(OWNER)
    work = add_account(
        store,
        secrets,
        "Work",
        "ana@example.com",
        "pop.example.com",
        activate=True,
        last_fetch_status="ok",
        last_fetch_at=NOW - timedelta(minutes=4),
        last_fetch_new=3,
    )
    writer = BatchWriter(work, dedupe_message_id=False)
    for index in range(1, 40):
        writer.add(f"uid-{index:04d}", raw_message(index, NOW - timedelta(hours=5 * index)))
    writer.add("uid-figures", reader_message(NOW - timedelta(minutes=12)))
    writer.flush()
    # "Fetched at" times follow the sample dates, not the moment the script ran.
    Message.update(fetched_at=NOW, first_seen_at=NOW).execute()
    add_account(
        store,
        secrets,
        "Personal",
        "ana.lima@gmail.com",
        "pop.gmail.com",
        last_fetch_status="error",
        last_fetch_error=(
            "The password was rejected by pop.gmail.com. The server said: [AUTH] Username and "
            "password not accepted. With 2-Step Verification on, use an app password."
        ),
        last_fetch_at=NOW - timedelta(minutes=65),
        consecutive_auth_failures=2,
    )
    add_account(
        store,
        secrets,
        "Old ISP",
        "ana@oldisp.example",
        "pop3.oldisp.example",
        last_fetch_status="error",
        last_fetch_error="Could not connect to pop3.oldisp.example:995: connection refused",
        last_fetch_at=NOW - timedelta(days=3),
        disabled=True,
        disabled_reason="50 failed connections in a row (last: connection refused).",
    )


def sample_certificate() -> CertificateInfo:
    return CertificateInfo(
        sha256=":".join(f"{(n * 37 + 11) % 256:02X}" for n in range(32)),
        subject="CN=mail.oldisp.example",
        issuer="CN=mail.oldisp.example",
        not_before=datetime(2025, 1, 1),
        not_after=datetime(2026, 1, 1),
        san=("mail.oldisp.example", "pop3.oldisp.example"),
        reason="self-signed certificate",
    )


def fixed_clock() -> datetime:
    return NOW


def no_network_tester(settings: AccountSettings, password: str) -> TestResult:
    return TestResult(True, f"Logged in to {settings.incoming_host} (sample).")


def build_app(folder: Path) -> PoptuiApp:
    secrets = MemoryStore()
    app = make_app(
        f"sqlite:///{folder / 'screenshots.db'}",
        secrets=secrets,
        tester=no_network_tester,
        clock=fixed_clock,
        owner=OWNER,
        keyring_probe=no_keyring,
        encrypted_file=ENCRYPTED_FILE,
    )
    fill_sample_data(secrets)
    return app


def no_keyring() -> object:
    """What an SSH session without a desktop gets: keyring's fail backend."""
    from keyring.backends import fail

    return probe_keyring(backend=fail.Keyring())


# ------------------------------------------------------------------ steps


async def settle(pilot: Pilot[None], seconds: float = 0.3) -> None:
    await pilot.pause()
    await pilot.pause(seconds)
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    for area in pilot.app.screen.query(TextArea):
        area.cursor_blink = False
    await pilot.pause()


async def wait_for_screen(pilot: Pilot[None], name: str, limit: float = 10.0) -> Screen[object]:
    deadline = time.monotonic() + limit
    while type(pilot.app.screen).__name__ != name:
        if time.monotonic() > deadline:
            raise RuntimeError(f"expected the {name}, got {type(pilot.app.screen).__name__}")
        await pilot.pause(0.05)
    return pilot.app.screen


async def keys(pilot: Pilot[None], *pressed: str) -> None:
    await pilot.pause()
    await pilot.press(*pressed)
    await pilot.pause()


async def nothing(pilot: Pilot[None]) -> None:
    await pilot.pause()


async def fetching(pilot: Pilot[None]) -> None:
    """The list while the active mailbox is being fetched: the State column and the bar."""
    work = Account.get(Account.name == "Work")
    pilot.app.post_message(
        FetchProgress(
            int(work.id),
            "Work",
            SyncProgress(
                "Work",
                "fetching",
                total=3_000,
                done=1_240,
                bytes_done=58_720_256,
                bytes_total=141_557_760,
                started=0.0,
                as_of=58_720_256 / 2_411_724.8,  # 2.3 MB/s
            ),
        )
    )
    await pilot.pause()


async def account_form(pilot: Pilot[None]) -> None:
    await keys(pilot, "a")
    screen = await wait_for_screen(pilot, "AccountFormScreen")
    await pilot.pause(0.2)
    for selector, value in (("#name", "Home"), ("#email", "ana.lima@gmail.com")):
        field = screen.query_one(selector, Input)
        field.focus()
        await pilot.pause()
        field.value = value
        await pilot.pause()
    # The form mounts the fields after the address lazily (first frame fast); build them now.
    await screen.fields.ensure_built()  # type: ignore[attr-defined]
    await pilot.pause()
    screen.query_one("#password", Input).focus()


async def certificate(pilot: Pilot[None]) -> None:
    dialog = CertificateTrustDialog(sample_certificate(), host="pop3.oldisp.example", port=995)
    pilot.app.push_screen(dialog)
    await wait_for_screen(pilot, "CertificateTrustDialog")


async def help_screen(pilot: Pilot[None]) -> None:
    await keys(pilot, "f1")
    await wait_for_screen(pilot, "HelpScreen")


async def password_editor(pilot: Pilot[None]) -> None:
    await keys(pilot, "p")
    await wait_for_screen(pilot, "PasswordEditorScreen")


async def secret_store_setup(pilot: Pilot[None]) -> None:
    await password_editor(pilot)
    await pilot.pause(0.2)
    await keys(pilot, "ctrl+l")
    await wait_for_screen(pilot, "SecretStoreSetupScreen")
    await pilot.pause(0.5)  # the keyring probe runs in a worker


async def message_browser(pilot: Pilot[None]) -> None:
    await keys(pilot, "enter")
    await wait_for_screen(pilot, "MessageBrowserScreen")


async def message_reader(pilot: Pilot[None]) -> None:
    await message_browser(pilot)
    await pilot.pause(0.2)
    await keys(pilot, "enter")
    await wait_for_screen(pilot, "MessageReaderScreen")
    await pilot.pause(0.5)  # the message is rendered in a worker


async def sharing(pilot: Pilot[None]) -> None:
    await keys(pilot, "x")
    await wait_for_screen(pilot, "SharingPermissionScreen")


SHOTS = [
    Shot(
        "mailbox-list",
        "Every mailbox, the active one, why one fails",
        nothing,
        expect="MailboxListScreen",
        highlight="Personal",
    ),
    Shot(
        "mailbox-list-fetching",
        "A fetch in progress: State column and status bar",
        fetching,
        expect="MailboxListScreen",
    ),
    Shot(
        "account-form",
        "Adding a Gmail mailbox: servers filled in, advice",
        account_form,
        expect="AccountFormScreen",
    ),
    Shot(
        "certificate-dialog",
        "An untrusted certificate, offered for pinning",
        certificate,
        expect="CertificateTrustDialog",
    ),
    Shot(
        "help",
        "Every key (F1)",
        help_screen,
        expect="HelpScreen",
    ),
    Shot(
        "password-editor",
        "Changing a mailbox's passwords (p)",
        password_editor,
        expect="PasswordEditorScreen",
    ),
    Shot(
        "secret-store-setup",
        "Where passwords are kept, over SSH without a keyring",
        secret_store_setup,
        expect="SecretStoreSetupScreen",
    ),
    Shot(
        "message-browser",
        "The fetched mail of a mailbox, newest first",
        message_browser,
        expect="MessageBrowserScreen",
    ),
    Shot(
        "message-reader",
        "One message, read-only, with its attachment",
        message_reader,
        expect="MessageReaderScreen",
    ),
    Shot(
        "sharing",
        "Who else may see the mailbox's mail (x)",
        sharing,
        expect="SharingPermissionScreen",
    ),
]


# ------------------------------------------------------------------ taking them


async def take(shot: Shot, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="poptui-shots-") as folder:
        app = build_app(Path(folder))
        try:
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                account = Account.get(Account.name == shot.highlight)
                app.screen.query_one(MailboxTable).select_account(int(account.id))
                await pilot.pause()
                await shot.steps(pilot)
                await settle(pilot)
                on_top = type(app.screen).__name__
                if on_top != shot.expect:
                    raise RuntimeError(f"{shot.name}: expected {shot.expect}, got {on_top}")
                app.save_screenshot(filename=f"{shot.name}.svg", path=str(out_dir))
        finally:
            if database_proxy.obj is not None:
                database_proxy.close()
    return out_dir / f"{shot.name}.svg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="take only these shots")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots", help="output folder")
    parser.add_argument("--list", action="store_true", help="list the shots and exit")
    args = parser.parse_args(argv)
    if args.list:
        for shot in SHOTS:
            print(f"{shot.name:22} {shot.shows}")
        return 0
    wanted = [s for s in SHOTS if not args.only or s.name in args.only]
    unknown = set(args.only or ()) - {s.name for s in SHOTS}
    if unknown:
        parser.error(f"no such shot: {', '.join(sorted(unknown))}")
    os.environ["TZ"] = "UTC"  # times on screen are local: make them the same everywhere
    time.tzset()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for shot in wanted:
        try:
            path = asyncio.run(take(shot, args.out))
        except Exception as error:  # one broken screen must not hide the others
            failed += 1
            print(f"FAILED {shot.name}: {error}", file=sys.stderr)
        else:
            print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

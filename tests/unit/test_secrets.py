"""The secret stores and the keyring probe, each keyring situation with the message it produces."""

from __future__ import annotations

import getpass
import io
import json
import logging
import os
import shlex
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring.backend
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyrings.cryptfile.cryptfile import CryptFileKeyring
from keyrings.cryptfile.file import PlaintextKeyring as CryptfilePlaintextKeyring

from tui.core.secrets import (
    LOCKED_ADVICE,
    NO_KEYRING_ADVICE,
    SERVICE,
    EncryptedFileStore,
    KeyringProblem,
    KeyringStore,
    KeyringUnavailableError,
    MemoryStore,
    PasswordCommandError,
    PasswordCommandStore,
    ReadOnlyStoreError,
    SecretKind,
    SecretStore,
    SecretStoreError,
    SecretStoreTimeoutError,
    StoreChoice,
    UnsafeBackendError,
    WrongPassphraseError,
    open_store,
    parse_secret_id,
    probe_keyring,
    secret_id,
)

INCOMING = SecretKind.INCOMING
OUTGOING = SecretKind.OUTGOING
SECRET = "correct-horse-Ä-battery"
"""A module constant, so that no test frame holds it as a local when tracebacks are rendered."""
PASSPHRASE = "file passphrase 42"
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# Keyring backends standing in for the situations met in the field. A negative priority keeps
# them out of keyring's own backend selection for the rest of the test session.


class MemoryKeyring(KeyringBackend):
    """A working keyring."""

    priority = -10

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.values[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("not found") from None


class HangingKeyring(KeyringBackend):
    """A locked Secret Service waiting for an unlock prompt nobody sees."""

    priority = -10
    release = threading.Event()

    def get_password(self, service: str, username: str) -> str | None:
        self.release.wait(60)
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.release.wait(60)


class PlaintextKeyring(KeyringBackend):
    """Named like keyrings.alt's: passwords in a file in clear text. Records every call."""

    priority = -10

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_password(self, service: str, username: str) -> str | None:
        self.calls.append("get")
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls.append("set")


class LockedKeyring(KeyringBackend):
    priority = -10

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")


class LeakyKeyring(KeyringBackend):
    """A backend whose errors quote the password, as some libraries' messages do."""

    priority = -10

    def get_password(self, service: str, username: str) -> str | None:
        raise RuntimeError("D-Bus said no")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(
            f"cannot store {password!r} ({password.encode()!r}) for {username} in {service}"
        )


@pytest.fixture(autouse=True)
def no_terminal_prompts(monkeypatch: pytest.MonkeyPatch) -> None:
    """keyrings.cryptfile falls back to getpass: nothing here may ever reach it."""

    def refuse(prompt: str = "", stream: object = None) -> str:
        raise AssertionError(f"getpass was called: {prompt!r}")

    monkeypatch.setattr(getpass, "getpass", refuse)


@pytest.fixture(autouse=True)
def isolated_keyring_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PYTHON_KEYRING_BACKEND or keyringrc.cfg from the machine running the tests."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


@pytest.fixture
def hanging() -> Iterator[HangingKeyring]:
    HangingKeyring.release.clear()
    yield HangingKeyring()
    HangingKeyring.release.set()  # let the abandoned probe thread finish


def _store_secret(store: SecretStore) -> None:
    """Stores SECRET without holding it as a local of this frame (see the traceback tests)."""
    store.set("work", INCOMING, SECRET, mailbox="work")


def _rendered_with_locals(exc: BaseException) -> str:
    """The library's part of the traceback as Textual's crash screen shows it: with locals.

    This file's own frames are left out: their source lines quote the test passwords.
    """
    frames = [
        (frame, line)
        for frame, line in traceback.walk_tb(exc.__traceback__)
        if frame.f_code.co_filename != __file__
    ]
    assert frames, "expected frames from tui.core.secrets"
    stack = traceback.StackSummary.extract(frames, capture_locals=True)
    return "".join([*stack.format(), *traceback.format_exception_only(exc)])


# ---------------------------------------------------------------------------------------------
# probe_keyring: one test per situation, with the words the user reads.


def test_probe_working_backend_is_usable_and_leaves_nothing_behind() -> None:
    backend = MemoryKeyring()
    health = probe_keyring(timeout=2, backend=backend)
    assert health.problem is KeyringProblem.OK
    assert health.usable
    assert health.backend is backend
    assert health.backend_name == "tests.unit.test_secrets.MemoryKeyring"
    assert health.advice == (
        "Passwords are kept in the keyring backend tests.unit.test_secrets.MemoryKeyring."
    )
    assert backend.values == {}


def test_probe_fail_backend_says_what_to_do_over_ssh() -> None:
    health = probe_keyring(timeout=2, backend=fail.Keyring())
    assert health.problem is KeyringProblem.FAIL_BACKEND
    assert not health.usable
    assert health.advice == NO_KEYRING_ADVICE
    assert health.advice == (
        "No usable system keyring: this is common over SSH without a desktop session. "
        "Choose one: an encrypted file (poptui asks its passphrase once per session), "
        "a password command such as `pass show mail/work`, "
        "or set PYTHON_KEYRING_BACKEND to a backend you trust."
    )


def test_probe_null_backend_is_detected_by_the_round_trip() -> None:
    health = probe_keyring(timeout=2, backend=null.Keyring())
    assert health.problem is KeyringProblem.NULL_BACKEND
    assert not health.usable
    assert health.advice.startswith(
        "The keyring backend keyring.backends.null.Keyring accepts passwords but keeps none"
    )
    assert "pass show mail/work" in health.advice


def test_probe_hanging_backend_returns_hanging_within_the_timeout(
    hanging: HangingKeyring,
) -> None:
    started = time.monotonic()
    health = probe_keyring(timeout=0.5, backend=hanging)
    elapsed = time.monotonic() - started
    assert health.problem is KeyringProblem.HANGING
    assert not health.usable
    assert health.backend_name == "tests.unit.test_secrets.HangingKeyring"
    assert health.advice.startswith("The system keyring did not answer within 0.5 s.")
    assert "locked" in health.advice
    assert elapsed < 0.5 + 1


def test_probe_refuses_plaintext_backend_without_writing_to_it() -> None:
    backend = PlaintextKeyring()
    health = probe_keyring(timeout=2, backend=backend)
    assert health.problem is KeyringProblem.PLAINTEXT_BACKEND
    assert not health.usable
    assert backend.calls == []
    assert health.advice.startswith(
        "The keyring backend tests.unit.test_secrets.PlaintextKeyring stores passwords "
        "unencrypted in a file, so poptui will not use it"
    )


def test_probe_refuses_cryptfile_backend_that_would_prompt(tmp_path: Path) -> None:
    backend = CryptFileKeyring()
    backend.file_path = str(tmp_path / "cryptfile_pass.cfg")
    health = probe_keyring(timeout=2, backend=backend)
    assert health.problem is KeyringProblem.PROMPTING_BACKEND
    assert "asks for its passphrase on the terminal" in health.advice
    assert "encrypted file" in health.advice
    assert not (tmp_path / "cryptfile_pass.cfg").exists()


def test_probe_locked_keyring_says_unlock() -> None:
    health = probe_keyring(timeout=2, backend=LockedKeyring())
    assert health.problem is KeyringProblem.ERROR
    assert health.advice == LOCKED_ADVICE
    assert health.advice.startswith("The system keyring is locked and could not be unlocked.")


def test_probe_other_errors_name_the_exception() -> None:
    health = probe_keyring(timeout=2, backend=LeakyKeyring())
    assert health.problem is KeyringProblem.ERROR
    assert health.detail is not None
    assert health.detail.startswith("RuntimeError: cannot store")
    assert health.advice.startswith("The system keyring failed (RuntimeError: cannot store")


def test_keyrings_own_default_here_is_a_chainer_with_plaintext_and_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With keyrings.cryptfile installed and no Secret Service, keyring's default is a chainer
    # over CryptFileKeyring (prompts with getpass) and cryptfile's own PlaintextKeyring.
    monkeypatch.setattr(
        keyring.backend,
        "get_all_keyring",
        lambda: [CryptFileKeyring(), CryptfilePlaintextKeyring()],
    )
    health = probe_keyring(timeout=2, backend=chainer.ChainerBackend())
    assert health.problem is KeyringProblem.PLAINTEXT_BACKEND


def test_automatic_choice_skips_file_backends_and_reports_no_keyring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        keyring.backend,
        "get_all_keyring",
        lambda: [CryptFileKeyring(), CryptfilePlaintextKeyring(), fail.Keyring()],
    )
    health = probe_keyring(timeout=2)
    assert health.problem is KeyringProblem.FAIL_BACKEND
    assert health.backend_name == "keyring.backends.fail.Keyring"
    assert health.advice == NO_KEYRING_ADVICE


def test_automatic_choice_takes_a_working_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    working = MemoryKeyring()
    working.priority = 5  # an instance override: as recommended as a Secret Service
    monkeypatch.setattr(
        keyring.backend, "get_all_keyring", lambda: [CryptFileKeyring(), working, fail.Keyring()]
    )
    health = probe_keyring(timeout=2)
    assert health.problem is KeyringProblem.OK
    assert health.backend is working


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("keyring.backends.null.Keyring", KeyringProblem.NULL_BACKEND),
        ("keyring.backends.fail.Keyring", KeyringProblem.FAIL_BACKEND),
        ("keyrings.cryptfile.file.PlaintextKeyring", KeyringProblem.PLAINTEXT_BACKEND),
        ("keyrings.cryptfile.cryptfile.CryptFileKeyring", KeyringProblem.PROMPTING_BACKEND),
    ],
)
def test_python_keyring_backend_is_honoured_and_checked(
    monkeypatch: pytest.MonkeyPatch, name: str, problem: KeyringProblem
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", name)
    health = probe_keyring(timeout=2)
    assert health.problem is problem
    assert health.backend_name == name


def test_python_keyring_backend_that_does_not_load_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "no_such_module.Keyring")
    health = probe_keyring(timeout=2)
    assert health.problem is KeyringProblem.ERROR
    assert health.advice.startswith(
        "The keyring backend named in PYTHON_KEYRING_BACKEND=no_such_module.Keyring could not "
        "be loaded (ModuleNotFoundError"
    )


# ---------------------------------------------------------------------------------------------
# KeyringStore


def test_keyring_store_round_trip_keeps_incoming_and_outgoing_apart() -> None:
    backend = MemoryKeyring()
    store = KeyringStore(backend, timeout=2)
    assert store.get("work", INCOMING) is None
    store.set("work", INCOMING, "in-pw")
    store.set("work", OUTGOING, "out-pw")
    assert store.get("work", INCOMING) == "in-pw"
    assert store.get("work", OUTGOING) == "out-pw"
    assert backend.values[(SERVICE, "work:incoming")] == "in-pw"
    store.delete("work", INCOMING)
    store.delete("work", INCOMING)  # idempotent
    assert store.get("work", INCOMING) is None
    assert store.get("work", OUTGOING) == "out-pw"
    assert "out-pw" not in repr(store)
    assert store.describe() == "keyring backend tests.unit.test_secrets.MemoryKeyring"


def test_keyring_store_with_fail_backend_gives_the_ssh_advice() -> None:
    store = KeyringStore(MemoryKeyring(), timeout=2)
    store._backend = fail.Keyring()  # as if the keyring disappeared after the probe
    with pytest.raises(KeyringUnavailableError) as caught:
        store.get("work", INCOMING)
    assert str(caught.value) == NO_KEYRING_ADVICE


def test_keyring_store_resolved_lazily_to_fail_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    store = KeyringStore(timeout=2)
    assert store.describe() == "system keyring"
    with pytest.raises(KeyringUnavailableError, match="No usable system keyring"):
        store.get("work", INCOMING)


def test_keyring_store_refuses_plaintext_and_null_backends() -> None:
    with pytest.raises(UnsafeBackendError, match="unencrypted"):
        KeyringStore(PlaintextKeyring())
    with pytest.raises(UnsafeBackendError, match="on the terminal"):
        KeyringStore(CryptFileKeyring())
    with pytest.raises(KeyringUnavailableError, match="keeps none"):
        KeyringStore(null.Keyring())


def test_keyring_store_times_out_on_a_hanging_backend(hanging: HangingKeyring) -> None:
    store = KeyringStore(hanging, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(SecretStoreTimeoutError) as caught:
        store.get("work", INCOMING)
    assert time.monotonic() - started < 0.3 + 1
    assert str(caught.value).startswith(
        "The keyring backend tests.unit.test_secrets.HangingKeyring did not answer within 0.3 s"
    )


def test_backend_errors_never_carry_the_password(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = KeyringStore(LeakyKeyring(), timeout=2)
    with pytest.raises(SecretStoreError) as caught:
        _store_secret(store)
    error = caught.value
    assert str(error).startswith(
        "Could not store the incoming password of work in the keyring backend "
        "tests.unit.test_secrets.LeakyKeyring (RuntimeError: cannot store"
    )
    assert "***" in str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert "\\xc3\\x84" not in str(error)  # nor its UTF-8 bytes as repr shows them
    assert error.__cause__ is None
    assert error.__context__ is None
    # Textual's crash screen renders tracebacks with locals: nothing there either.
    assert SECRET not in _rendered_with_locals(error)
    logging.getLogger("poptui.test").error("saving failed", exc_info=error)
    assert "saving failed" in caplog.text
    assert SECRET not in caplog.text


def test_memory_store_round_trip() -> None:
    store = MemoryStore({("work", INCOMING): "pw"})
    assert isinstance(store, SecretStore)
    assert store.get("work", INCOMING) == "pw"
    store.set("work", OUTGOING, "pw2")
    store.delete("work", INCOMING)
    assert store.get("work", INCOMING) is None
    assert store.get("work", OUTGOING) == "pw2"
    assert "pw2" not in repr(store)
    with pytest.raises(SecretStoreError, match="empty password"):
        store.set("work", INCOMING, "")


# ---------------------------------------------------------------------------------------------
# EncryptedFileStore (keyrings.cryptfile): real Argon2, about half a second per access.


def test_encrypted_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "poptui" / "secrets.cfg"
    assert not EncryptedFileStore.exists(path)
    store = EncryptedFileStore(path, PASSPHRASE)
    store.unlock()
    assert EncryptedFileStore.exists(path)
    _store_secret(store)
    store.set("work", OUTGOING, "smtp-pw")
    assert store.get("work", INCOMING) == SECRET

    reopened = EncryptedFileStore(path, PASSPHRASE)
    assert reopened.get("work", INCOMING) == SECRET
    assert reopened.get("work", OUTGOING) == "smtp-pw"
    assert reopened.get("home", INCOMING) is None

    content = path.read_bytes()
    for clear in (SECRET, "smtp-pw", PASSPHRASE):
        assert clear.encode() not in content
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    reopened.delete("work", INCOMING)
    reopened.delete("work", INCOMING)  # idempotent
    assert EncryptedFileStore(path, PASSPHRASE).get("work", INCOMING) is None


def test_encrypted_file_sees_changes_made_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "secrets.cfg"
    first = EncryptedFileStore(path, PASSPHRASE)
    first.set("work", INCOMING, "old")
    assert first.get("work", INCOMING) == "old"  # now cached
    EncryptedFileStore(path, PASSPHRASE).set("work", INCOMING, "a much longer new password")
    assert first.get("work", INCOMING) == "a much longer new password"


def test_encrypted_file_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "secrets.cfg"
    EncryptedFileStore(path, PASSPHRASE).set("work", INCOMING, "pw")
    store = EncryptedFileStore(path, "not the passphrase")
    with pytest.raises(WrongPassphraseError) as caught:
        store.unlock()
    message = str(caught.value)
    assert message.startswith("Wrong passphrase for the encrypted password file ")
    assert message.endswith("secrets.cfg.")
    assert PASSPHRASE not in message
    assert "not the passphrase" not in message + repr(caught.value) + repr(store)
    with pytest.raises(WrongPassphraseError):
        store.get("work", INCOMING)


def test_encrypted_file_rejects_empty_passphrase(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="cannot be empty"):
        EncryptedFileStore(tmp_path / "secrets.cfg", "  ")


def test_encrypted_file_damaged_is_not_called_a_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "secrets.cfg"
    path.write_text("this is not an ini file\n")
    with pytest.raises(SecretStoreError) as caught:
        EncryptedFileStore(path, PASSPHRASE).unlock()
    assert not isinstance(caught.value, WrongPassphraseError)
    assert "could not be read; it may be damaged" in str(caught.value)


def test_encrypted_file_describe(tmp_path: Path) -> None:
    store = EncryptedFileStore(Path.home() / ".local/share/poptui/secrets.cfg", PASSPHRASE)
    assert store.describe() == "encrypted file ~/.local/share/poptui/secrets.cfg"
    assert PASSPHRASE not in repr(store)


# ---------------------------------------------------------------------------------------------
# PasswordCommandStore


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "password-command"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o700)
    return shlex.quote(str(path))


def test_password_command_first_line_is_the_password(tmp_path: Path) -> None:
    command = _script(tmp_path, "printf 'hunter2\\nuser: alice\\n'\n")
    store = PasswordCommandStore({("work", INCOMING): command})
    assert store.get("work", INCOMING) == "hunter2"
    assert store.get("work", OUTGOING) is None
    assert store.describe() == f"password command: {command}"


def test_password_command_without_and_with_shell_syntax() -> None:
    store = PasswordCommandStore(
        {
            ("work", INCOMING): "printf 'hunter2\\n'",
            ("work", OUTGOING): "printf 'xunter2\\n' | sed s/x/h/",
        }
    )
    assert store.get("work", INCOMING) == "hunter2"
    assert store.get("work", OUTGOING) == "hunter2"
    assert store.describe() == "password commands (2 configured)"


def test_password_command_failure_shows_stderr_but_no_secret(tmp_path: Path) -> None:
    command = _script(
        tmp_path,
        "echo hunter2\necho 'gpg: decryption failed: No secret key (hunter2)' >&2\nexit 3\n",
    )
    store = PasswordCommandStore({("work", INCOMING): command})
    with pytest.raises(PasswordCommandError) as caught:
        store.get("work", INCOMING, mailbox="work")
    message = str(caught.value)
    assert message == (
        f"The password command `{command}` (work, incoming) failed with exit status 3: "
        "gpg: decryption failed: No secret key (***)"
    )
    assert "hunter2" not in message
    assert "hunter2" not in _rendered_with_locals(caught.value)


def test_password_command_timeout_stops_it(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    store = PasswordCommandStore(
        {("work", INCOMING): f"(sleep 1; touch {shlex.quote(str(marker))}) & wait"},
        timeout=0.3,
    )
    started = time.monotonic()
    with pytest.raises(PasswordCommandError) as caught:
        store.get("work", INCOMING)
    assert time.monotonic() - started < 0.3 + 1
    assert "did not finish within 0.3 s and was stopped" in str(caught.value)
    time.sleep(1.2)
    assert not marker.exists()  # the shell and its children were killed, not just waited on


def test_password_command_not_found_and_empty_output() -> None:
    store = PasswordCommandStore(
        {("work", INCOMING): "no-such-password-program show work", ("work", OUTGOING): "true"}
    )
    with pytest.raises(PasswordCommandError, match="no-such-password-program was not found"):
        store.get("work", INCOMING)
    with pytest.raises(PasswordCommandError, match="printed no password on its first line"):
        store.get("work", OUTGOING)


def test_password_command_store_is_read_only() -> None:
    store = PasswordCommandStore({("work", INCOMING): "pass show mail/work"})
    with pytest.raises(ReadOnlyStoreError) as caught:
        store.set("work", INCOMING, "new-password", mailbox="work")
    assert str(caught.value).startswith(
        "The incoming password of work comes from the command `pass show mail/work`; "
        "poptui cannot change it."
    )
    assert "new-password" not in str(caught.value)
    assert "new-password" not in _rendered_with_locals(caught.value)
    store.delete("work", INCOMING)  # nothing stored, nothing to do


def test_password_command_with_broken_quoting_is_refused_up_front() -> None:
    with pytest.raises(SecretStoreError, match="cannot be read: No closing quotation"):
        PasswordCommandStore({("work", INCOMING): "pass show 'mail/work"})


# ---------------------------------------------------------------------------------------------
# The persisted choice and open_store


def test_secret_id_round_trip() -> None:
    assert secret_id("team:work", OUTGOING) == "team:work:outgoing"
    assert parse_secret_id("team:work:outgoing") == ("team:work", OUTGOING)
    with pytest.raises(ValueError, match="not a secret id"):
        parse_secret_id("work")


@pytest.mark.parametrize(
    "choice",
    [
        StoreChoice(),
        StoreChoice("cryptfile", path="/srv/poptui/secrets.cfg"),
        StoreChoice().with_command("work", INCOMING, "pass show mail/work"),
    ],
)
def test_store_choice_survives_json(choice: StoreChoice) -> None:
    data = json.loads(json.dumps(choice.to_dict()))
    assert StoreChoice.from_dict(data) == choice


def test_store_choice_rejects_bad_settings() -> None:
    with pytest.raises(SecretStoreError, match="unknown kind 'plaintext'"):
        StoreChoice.from_dict({"kind": "plaintext"})
    with pytest.raises(SecretStoreError, match="not ACCOUNT:incoming"):
        StoreChoice.from_dict({"kind": "command", "commands": {"work": "pass show x"}})


def test_open_store_for_each_kind(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    assert isinstance(open_store(StoreChoice(), keyring_backend=backend), KeyringStore)

    asked: list[str] = []

    def passphrase() -> str:
        asked.append("asked")
        return PASSPHRASE

    path = tmp_path / "secrets.cfg"
    store = open_store(StoreChoice("cryptfile", path=str(path)), passphrase)
    assert isinstance(store, EncryptedFileStore)
    assert asked == ["asked"]
    assert EncryptedFileStore.exists(path)  # unlocked (here: created) by open_store
    with pytest.raises(SecretStoreError, match="needs its passphrase"):
        open_store(StoreChoice("cryptfile", path=str(path)))

    choice = StoreChoice().with_command("work", INCOMING, "printf 'hunter2\\n'")
    assert open_store(choice).get("work", INCOMING) == "hunter2"


def test_debug_logging_never_contains_passwords(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stores: list[SecretStore] = [
        KeyringStore(MemoryKeyring()),
        EncryptedFileStore(tmp_path / "secrets.cfg", PASSPHRASE),
    ]
    for store in stores:
        _store_secret(store)
        assert store.get("work", INCOMING) == SECRET
    probe_keyring(timeout=2, backend=MemoryKeyring())
    assert caplog.records
    assert SECRET not in caplog.text
    assert PASSPHRASE not in caplog.text


def test_importing_the_module_does_not_import_textual() -> None:
    code = "import sys, tui.core.secrets; assert 'textual' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=60)


def test_importing_the_stores_leaves_keyring_and_cryptfile_unloaded() -> None:
    # `poptui fetch` with a password command or the encrypted file must not pay for keyring.
    code = (
        "import sys, tui.core.secrets, tui.core.secrets.setup, tui.core.secrets.opening\n"
        "heavy = ('keyring', 'keyrings', 'cryptography', 'Cryptodome', 'textual')\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=60)


# ---------------------------------------------------------------------------------------------
# Errors name the mailbox, never the secret key its passwords are filed under.

ACCOUNT_KEY = "3f0c9a6e5b2d4c1e8a7f6b5c4d3e2f1a"
"""Shaped like `Account.secret_key` (a uuid4 hex): meaningless to the user."""
MAILBOX = "Work mail"


def _error_of(call: Callable[[], object]) -> SecretStoreError:
    with pytest.raises(SecretStoreError) as caught:
        call()
    return caught.value


def _assert_names_the_mailbox(error: SecretStoreError) -> None:
    text = f"{error} {error!r} {error.in_words()}"
    assert MAILBOX in str(error)
    assert ACCOUNT_KEY not in text


def test_keyring_errors_name_the_mailbox(hanging: HangingKeyring) -> None:
    leaky = KeyringStore(LeakyKeyring(), timeout=2)
    stored = _error_of(lambda: leaky.set(ACCOUNT_KEY, INCOMING, "pw", mailbox=MAILBOX))
    assert str(stored).startswith(f"Could not store the incoming password of {MAILBOX} in ")
    _assert_names_the_mailbox(stored)
    _assert_names_the_mailbox(_error_of(lambda: leaky.get(ACCOUNT_KEY, OUTGOING, mailbox=MAILBOX)))
    slow = KeyringStore(hanging, timeout=0.2)
    timed_out = _error_of(lambda: slow.get(ACCOUNT_KEY, INCOMING, mailbox=MAILBOX))
    assert isinstance(timed_out, SecretStoreTimeoutError)
    _assert_names_the_mailbox(timed_out)
    # Without a name the key is still never said.
    unnamed = _error_of(lambda: leaky.set(ACCOUNT_KEY, INCOMING, "pw"))
    assert ACCOUNT_KEY not in str(unnamed)
    assert str(unnamed).startswith("Could not store the incoming password in the keyring backend")


def test_encrypted_file_errors_name_the_mailbox(tmp_path: Path) -> None:
    path = tmp_path / "secrets.cfg"
    store = EncryptedFileStore(path, PASSPHRASE)
    store.unlock()
    path.unlink()
    path.mkdir()  # the file replaced by a directory: writing it fails with an OSError
    error = _error_of(lambda: store.set(ACCOUNT_KEY, OUTGOING, "pw", mailbox=MAILBOX))
    assert str(error).startswith(f"Could not store the outgoing password of {MAILBOX} in the ")
    _assert_names_the_mailbox(error)


def test_password_command_errors_name_the_mailbox() -> None:
    store = PasswordCommandStore({(ACCOUNT_KEY, INCOMING): "false"})
    failed = _error_of(lambda: store.get(ACCOUNT_KEY, INCOMING, mailbox=MAILBOX))
    assert f"({MAILBOX}, incoming) failed with exit status 1" in str(failed)
    _assert_names_the_mailbox(failed)
    _assert_names_the_mailbox(
        _error_of(lambda: store.set(ACCOUNT_KEY, INCOMING, "pw", mailbox=MAILBOX))
    )
    no_command = _error_of(lambda: store.set(ACCOUNT_KEY, OUTGOING, "pw", mailbox=MAILBOX))
    assert f"and {MAILBOX} has none for its outgoing server" in str(no_command)
    _assert_names_the_mailbox(no_command)


def test_fetch_from_the_command_line_names_the_mailbox_whose_password_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui.cli import Console, main
    from tui.core.storage.accounts import AccountStore
    from tui.core.storage.db import open_database
    from tui.core.storage.models import database_proxy

    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("POPTUI_DATABASE", url)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    def poptui(*argv: str) -> tuple[int, str]:
        err = io.StringIO()
        return main(list(argv), Console(io.StringIO(), err)), err.getvalue()

    try:
        server = ["--incoming-host", "127.0.0.1", "--incoming-port", "9", "--incoming-security"]
        added = poptui("account", "add", MAILBOX, "--email", "me@example.com", *server, "none")
        assert added[0] == 0, added[1]
        assert poptui("secrets", "use", "command", MAILBOX, "--incoming", "false")[0] == 0
        code, said = poptui("fetch")
        open_database(url)
        key = AccountStore().get(MAILBOX).secret_key
    finally:
        if database_proxy.obj is not None:
            database_proxy.close()
    assert code != 0
    assert f"({MAILBOX}, incoming) failed with exit status 1" in said
    assert key not in said

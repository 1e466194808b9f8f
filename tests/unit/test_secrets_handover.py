"""A scheduler hands the encrypted file's passphrase over without the environment (issue #10):
a file descriptor, a file only the user can read, or systemd's credentials directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.cli_helpers import PASSPHRASE, PoptuiRunner
from tui.core.secrets import EncryptedFileStore, SecretKind
from tui.core.secrets.handover import forget_handed_passphrase, handed_over_passphrase

HANDOVER_ENV = (
    "POPTUI_SECRETS_PASSPHRASE",
    "POPTUI_SECRETS_PASSPHRASE_FD",
    "POPTUI_SECRETS_PASSPHRASE_FILE",
    "CREDENTIALS_DIRECTORY",
)


@pytest.fixture
def poptui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PoptuiRunner]:
    """`poptui` with an encrypted file holding one password, and no passphrase handed over."""
    runner = PoptuiRunner(tmp_path, monkeypatch)
    runner.use_file_store()
    EncryptedFileStore(runner.secrets_file, PASSPHRASE).set("work", SecretKind.INCOMING, "pw")
    for name in HANDOVER_ENV:
        monkeypatch.delenv(name, raising=False)
    forget_handed_passphrase()
    yield runner
    forget_handed_passphrase()


def _pipe_with(text: str) -> int:
    read_end, write_end = os.pipe()
    os.write(write_end, text.encode())
    os.close(write_end)
    return read_end


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_passphrase_fd_option_opens_the_file_and_closes_the_descriptor(
    poptui: PoptuiRunner,
) -> None:
    assert poptui("secrets", "show").code != 0  # nothing handed over, no terminal to ask on
    fd = _pipe_with(PASSPHRASE + "\n")
    result = poptui("--passphrase-fd", str(fd), "secrets", "show")
    assert result.code == 0, result.err
    assert "encrypted file" in result.out
    assert not _is_open(fd)
    assert PASSPHRASE not in result.out + result.err


def test_passphrase_fd_environment_is_read_once_per_process(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    fd = _pipe_with(PASSPHRASE)  # no newline: up to the end
    monkeypatch.setenv("POPTUI_SECRETS_PASSPHRASE_FD", str(fd))
    first = handed_over_passphrase()
    assert first is not None and first.passphrase == PASSPHRASE
    assert PASSPHRASE not in repr(first)
    again = handed_over_passphrase()  # the descriptor is closed: from memory
    assert again is not None and again.passphrase == PASSPHRASE
    assert poptui("secrets", "show").code == 0


def test_passphrase_fd_that_is_not_a_number_or_not_open_is_a_clear_error(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POPTUI_SECRETS_PASSPHRASE_FD", "three")
    result = poptui("secrets", "show")
    assert result.code != 0
    assert "POPTUI_SECRETS_PASSPHRASE_FD must be a file descriptor number" in result.err
    closed = next(fd for fd in range(900, 1000) if not _is_open(fd))
    monkeypatch.setenv("POPTUI_SECRETS_PASSPHRASE_FD", str(closed))
    result = poptui("secrets", "show")
    assert result.code != 0
    assert f"Could not read the passphrase from POPTUI_SECRETS_PASSPHRASE_FD={closed}" in (
        result.err
    )


def test_passphrase_file_private_works_and_loose_is_refused(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "passphrase"
    path.write_text(PASSPHRASE + "\n")
    monkeypatch.setenv("POPTUI_SECRETS_PASSPHRASE_FILE", str(path))
    for loose in (0o640, 0o604, 0o620):
        path.chmod(loose)
        result = poptui("secrets", "show")
        assert result.code != 0
        assert "can be read or changed by other users" in result.err
        assert f"chmod 600 {path}" in result.err
        assert PASSPHRASE not in result.out + result.err
    path.chmod(0o600)
    result = poptui("secrets", "show")
    assert result.code == 0, result.err
    assert "encrypted file" in result.out


def test_systemd_credential_is_picked_up_and_refused_when_others_can_read_it(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o500)
    (credentials / "other-service-secret").touch()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert handed_over_passphrase() is None  # no poptui-passphrase: nothing handed over
    credentials.chmod(0o700)
    path = credentials / "poptui-passphrase"
    path.write_text(PASSPHRASE)
    path.chmod(0o444)
    result = poptui("secrets", "show")
    assert result.code != 0
    assert "the systemd credential" in result.err and "chmod 600" in result.err
    path.chmod(0o400)
    result = poptui("secrets", "show")
    assert result.code == 0, result.err


def test_a_wrong_handed_passphrase_names_where_it_came_from(
    poptui: PoptuiRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tui.core.secrets.opening import SecretStoreConfig, open_configured

    path = tmp_path / "passphrase"
    path.write_text("not the passphrase\n")
    path.chmod(0o600)
    monkeypatch.setenv("POPTUI_SECRETS_PASSPHRASE_FILE", str(path))
    outcome = open_configured(SecretStoreConfig())
    assert outcome.store is None
    assert outcome.passphrase_file == poptui.secrets_file
    assert "Wrong passphrase" in outcome.problem
    assert "POPTUI_SECRETS_PASSPHRASE_FILE" in outcome.problem
    assert "not the passphrase" not in outcome.problem

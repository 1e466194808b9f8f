"""Where account passwords live: the system keyring, an encrypted file or a password command.

Passwords never go to the database, config files or logs. Over SSH there is often no usable
system keyring, so `probe_keyring` finds that out up front (in a thread, with a timeout) and
says what to do instead. Error messages and reprs never contain a password or passphrase.
"""

from __future__ import annotations

import configparser
import contextlib
import importlib
import logging
import os
import re
import secrets as _random
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend


class _LazyModule:
    """Imports a keyring module on first use: `poptui fetch` with a password command or the
    encrypted file never needs keyring, and importing it costs a fifth of the start-up time."""

    def __init__(self, name: str, submodules: frozenset[str] = frozenset()) -> None:
        self._name = name
        self._submodules = submodules

    def __getattr__(self, attribute: str) -> Any:
        if attribute in self._submodules:
            return importlib.import_module(f"{self._name}.{attribute}")
        return getattr(importlib.import_module(self._name), attribute)


keyring: Any = _LazyModule("keyring", frozenset({"backend", "core", "errors"}))
chainer: Any = _LazyModule("keyring.backends.chainer")
fail: Any = _LazyModule("keyring.backends.fail")
null: Any = _LazyModule("keyring.backends.null")

log = logging.getLogger(__name__)

SERVICE = "poptui"
"""Keyring service name; the keyring username is `secret_id(account_key, kind)`."""

PROBE_USERNAME = "poptui-probe"
"""Keyring username of the throwaway value `probe_keyring` writes, reads back and deletes."""

DEFAULT_PROBE_TIMEOUT = 3.0
DEFAULT_KEYRING_TIMEOUT = 30.0
"""Generous: a desktop keyring may show an unlock prompt the user has to answer."""
DEFAULT_COMMAND_TIMEOUT = 10.0

_T = TypeVar("_T")


def _FAIL_BACKEND() -> KeyringBackend:
    backend: KeyringBackend = fail.Keyring()
    return backend


class SecretKind(StrEnum):
    """Which of an account's two passwords: they are changed separately."""

    INCOMING = "incoming"
    """The POP3 server's password."""
    OUTGOING = "outgoing"
    """The SMTP server's password."""


def secret_id(account_key: str, kind: SecretKind) -> str:
    """The name one password is filed under in every store, e.g. ``work:incoming``."""
    if not account_key:
        raise ValueError("account_key must not be empty")
    return f"{account_key}:{SecretKind(kind).value}"


def parse_secret_id(value: str) -> tuple[str, SecretKind]:
    """Inverse of `secret_id`; the kind is after the last colon, so keys may contain colons."""
    account_key, sep, kind = value.rpartition(":")
    if not sep or not account_key or kind not in {k.value for k in SecretKind}:
        raise ValueError(f"not a secret id (expected 'ACCOUNT:incoming|outgoing'): {value!r}")
    return account_key, SecretKind(kind)


# ---------------------------------------------------------------------------------------------
# Errors: every message is meant for the user and never contains a secret.


class SecretStoreError(Exception):
    """A secret store could not do what was asked; ``str()`` is the user-facing message."""


class KeyringUnavailableError(SecretStoreError):
    """The keyring backend cannot keep passwords (fail or null backend, none installed)."""


class UnsafeBackendError(SecretStoreError):
    """The keyring backend would store passwords in clear text or prompt on the terminal."""


class SecretStoreTimeoutError(SecretStoreError):
    """The store did not answer in time (a locked keyring, a password command waiting)."""


class WrongPassphraseError(SecretStoreError):
    """The passphrase does not open the encrypted password file."""


class ReadOnlyStoreError(SecretStoreError):
    """The store only reads passwords (password commands); change them at their source."""


class PasswordCommandError(SecretStoreError):
    """A password command could not be run, failed, timed out or printed nothing."""


# ---------------------------------------------------------------------------------------------
# User-facing advice.

ALTERNATIVES = (
    "an encrypted file (poptui asks its passphrase once per session), "
    "a password command such as `pass show mail/work`, "
    "or set PYTHON_KEYRING_BACKEND to a backend you trust."
)
NO_KEYRING_ADVICE = (
    "No usable system keyring: this is common over SSH without a desktop session. "
    f"Choose one: {ALTERNATIVES}"
)


class KeyringProblem(StrEnum):
    """What `probe_keyring` found; anything but OK means poptui must not use the keyring."""

    OK = "ok"
    FAIL_BACKEND = "fail-backend"
    """keyring found no backend and raises NoKeyringError on every call."""
    NULL_BACKEND = "null-backend"
    """The backend accepts passwords and keeps none (keyring's null backend)."""
    PLAINTEXT_BACKEND = "plaintext-backend"
    """The backend writes passwords in clear text (e.g. keyrings.alt PlaintextKeyring)."""
    PROMPTING_BACKEND = "prompting-backend"
    """The backend asks a passphrase with getpass on the terminal, under poptui's screen."""
    HANGING = "hanging"
    """No answer within the timeout: typically a locked Secret Service waiting for a prompt."""
    ERROR = "error"
    """Anything else the backend raised."""


def _advice(problem: KeyringProblem, name: str, timeout: float, detail: str) -> str:
    if problem is KeyringProblem.OK:
        return f"Passwords are kept in the {describe_backend_name(name)}."
    if problem is KeyringProblem.FAIL_BACKEND:
        return NO_KEYRING_ADVICE
    if problem is KeyringProblem.NULL_BACKEND:
        return (
            f"The keyring backend {name} accepts passwords but keeps none, so poptui "
            f"could not read them back. Choose one: {ALTERNATIVES}"
        )
    if problem is KeyringProblem.PLAINTEXT_BACKEND:
        return (
            f"The keyring backend {name} stores passwords unencrypted in a file, so "
            "poptui will not use it (installing keyrings.alt makes such a backend the default "
            f"without asking). Choose one: {ALTERNATIVES}"
        )
    if problem is KeyringProblem.PROMPTING_BACKEND:
        return (
            f"The keyring backend {name} asks for its passphrase on the terminal, which "
            "would freeze poptui's screen. Choose poptui's encrypted file instead (poptui asks "
            "the passphrase itself, once per session), a password command such as "
            "`pass show mail/work`, or set PYTHON_KEYRING_BACKEND to another backend."
        )
    if problem is KeyringProblem.HANGING:
        return (
            f"The system keyring did not answer within {timeout:g} s. It is probably locked and "
            "waiting for an unlock prompt on a desktop you cannot see, which is common over SSH. "
            f"Unlock it in the desktop session and try again, or choose one: {ALTERNATIVES}"
        )
    return f"The system keyring failed ({detail}). Choose one: {ALTERNATIVES}"


LOCKED_ADVICE = (
    "The system keyring is locked and could not be unlocked. Unlock it (for example by logging "
    f"in to the desktop session) and try again, or choose one: {ALTERNATIVES}"
)


# ---------------------------------------------------------------------------------------------
# Helpers that keep secrets out of messages and out of the frames a traceback shows.

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]+")
_REDACTED = "***"


def _redact(text: str, hidden: Iterable[str]) -> str:
    """Remove every listed secret, in the spellings a library might print it, from text."""
    for secret in hidden:
        if not secret:
            continue
        spellings = {secret, repr(secret)[1:-1], ascii(secret)[1:-1]}
        spellings.add(repr(secret.encode("utf-8", "backslashreplace"))[2:-1])
        for spelling in sorted(spellings, key=len, reverse=True):
            text = text.replace(spelling, _REDACTED)
    return text


def _one_line(text: str, limit: int = 300, *, keep_end: bool = False) -> str:
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) <= limit:
        return text
    return "…" + text[-limit + 1 :] if keep_end else text[: limit - 1] + "…"


def _safe_detail(exc: BaseException, hidden: Iterable[str] = ()) -> str:
    """`Type: message` of a library exception, with secrets removed, on one short line."""
    message = _one_line(_redact(str(exc), hidden))
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


class _TimedOutError(Exception):
    pass


def _call_in_thread(fn: Callable[[], _T], timeout: float | None) -> _T:
    """Run fn in a daemon thread and wait at most timeout seconds.

    A daemon thread, not an executor: a keyring call that never returns must not keep the
    process alive at exit. Raises `_TimedOutError`, or re-raises what fn raised.
    """
    if timeout is None:
        return fn()
    box: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # handed to the waiting thread
            box.append((False, exc))

    thread = threading.Thread(target=target, name="poptui-secret-store", daemon=True)
    thread.start()
    thread.join(timeout)
    if not box:
        raise _TimedOutError
    ok, value = box.pop()
    if ok:
        result: _T = value
        return result
    raise value


# ---------------------------------------------------------------------------------------------
# The store protocol.


@runtime_checkable
class SecretStore(Protocol):
    """Where an installation keeps account passwords. Calls may block: run them in a worker."""

    def get(self, account_key: str, kind: SecretKind) -> str | None:
        """The password, or None when none is stored."""
        ...

    def set(self, account_key: str, kind: SecretKind, password: str) -> None:
        """Store or replace the password."""
        ...

    def delete(self, account_key: str, kind: SecretKind) -> None:
        """Forget the password; deleting one that is not there is not an error."""
        ...

    def describe(self) -> str:
        """Where the passwords are, for the user, e.g. "system keyring (Secret Service)"."""
        ...


def _check_password(password: str) -> None:
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    if not password:
        raise SecretStoreError("An empty password cannot be stored.")


class MemoryStore:
    """Passwords in a dict: for tests and for the app factory's test configuration."""

    def __init__(self, initial: Mapping[tuple[str, SecretKind], str] | None = None) -> None:
        self._values: dict[str, str] = {}
        for (account_key, kind), password in (initial or {}).items():
            self._values[secret_id(account_key, kind)] = password

    def get(self, account_key: str, kind: SecretKind) -> str | None:
        return self._values.get(secret_id(account_key, kind))

    def set(self, account_key: str, kind: SecretKind, password: str) -> None:
        _check_password(password)
        self._values[secret_id(account_key, kind)] = password

    def delete(self, account_key: str, kind: SecretKind) -> None:
        self._values.pop(secret_id(account_key, kind), None)

    def describe(self) -> str:
        return "memory (not kept after exit)"

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._values)} passwords)"


# ---------------------------------------------------------------------------------------------
# System keyring.

_FRIENDLY_BACKENDS = {
    "keyring.backends.SecretService.Keyring": "system keyring (Secret Service)",
    "keyring.backends.libsecret.Keyring": "system keyring (libsecret)",
    "keyring.backends.kwallet.DBusKeyring": "system keyring (KWallet)",
    "keyring.backends.kwallet.DBusKeyringKWallet4": "system keyring (KWallet 4)",
    "keyring.backends.macOS.Keyring": "macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "Windows Credential Manager",
}


def backend_name(backend: KeyringBackend) -> str:
    """The dotted class path, the form PYTHON_KEYRING_BACKEND takes."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_backend_name(name: str) -> str:
    """A friendly name for a backend class path."""
    return _FRIENDLY_BACKENDS.get(name, f"keyring backend {name}")


def _members(backend: KeyringBackend) -> list[KeyringBackend]:
    """The backend itself, or the backends a chainer would consult."""
    if isinstance(backend, chainer.ChainerBackend):
        return list(backend.backends)
    return [backend]


def _is_plaintext(backend: KeyringBackend) -> bool:
    return any("plaintext" in cls.__name__.lower() for cls in type(backend).__mro__)


def _prompts_for_passphrase(backend: KeyringBackend) -> bool:
    """True for file keyrings (keyrings.cryptfile, keyrings.alt) whose key is not set yet.

    They call getpass on first use. Checked through the class and instance dicts, because
    merely reading the `keyring_key` property is what triggers the prompt.
    """
    has_key_property = any("keyring_key" in vars(cls) for cls in type(backend).__mro__)
    instance = vars(backend)
    key_set = instance.get("_keyring_key") is not None or instance.get("keyring_key") is not None
    return has_key_property and not key_set


def _unsafe_problem(backend: KeyringBackend) -> KeyringProblem | None:
    """Problems visible from the backend's class alone, found without touching it."""
    members = _members(backend)
    if any(_is_plaintext(member) for member in members):
        return KeyringProblem.PLAINTEXT_BACKEND
    if any(_prompts_for_passphrase(member) for member in members):
        return KeyringProblem.PROMPTING_BACKEND
    if isinstance(backend, fail.Keyring) or not members:
        return KeyringProblem.FAIL_BACKEND
    if isinstance(backend, null.Keyring):
        return KeyringProblem.NULL_BACKEND
    return None


def resolve_keyring_backend() -> KeyringBackend:
    """The keyring backend poptui uses when none is injected.

    The user's explicit choice (PYTHON_KEYRING_BACKEND, or keyringrc.cfg) wins. Otherwise the
    highest-priority backend, but never keyring's chainer or a file backend: with
    keyrings.cryptfile installed, keyring's own default is a chainer that includes a getpass
    prompting file keyring and a plaintext one. May block (D-Bus): call it off the UI thread.
    """
    configured = os.environ.get("PYTHON_KEYRING_BACKEND", "")
    try:
        explicit = keyring.core.load_env() or keyring.core.load_config()
    except Exception as exc:
        source = f"PYTHON_KEYRING_BACKEND={configured}" if configured else "keyringrc.cfg"
        raise SecretStoreError(
            f"The keyring backend named in {source} could not be loaded ({_safe_detail(exc)})."
        ) from None
    if explicit is not None:
        chosen: KeyringBackend = explicit
        return chosen
    candidates = [
        candidate
        for candidate in keyring.backend.get_all_keyring()
        if not isinstance(candidate, chainer.ChainerBackend)
        and candidate.priority > 0
        and _unsafe_problem(candidate) is None
    ]
    if not candidates:
        return _FAIL_BACKEND()
    best: KeyringBackend = max(candidates, key=keyring.backend.by_priority)
    return best


@dataclass(frozen=True)
class KeyringHealth:
    """What `probe_keyring` found, with the message to show the user."""

    problem: KeyringProblem
    backend_name: str
    """Dotted class path ("" when it could not be determined)."""
    advice: str
    """User-facing: where passwords go, or what to do instead."""
    detail: str | None = None
    """Technical detail for logs (exception type and redacted text), if any."""
    backend: KeyringBackend | None = field(default=None, repr=False, compare=False)
    """The backend probed, to hand to `KeyringStore` so it is not resolved twice."""

    @property
    def usable(self) -> bool:
        return self.problem is KeyringProblem.OK


def _health(
    problem: KeyringProblem,
    name: str,
    timeout: float,
    detail: str | None = None,
    backend: KeyringBackend | None = None,
    advice: str | None = None,
) -> KeyringHealth:
    if advice is None:
        advice = _advice(problem, name, timeout, detail or "")
    return KeyringHealth(problem, name, advice, detail, backend)


def _round_trip(backend: KeyringBackend, timeout: float) -> KeyringHealth:
    name = backend_name(backend)
    problem = _unsafe_problem(backend)
    if problem is KeyringProblem.PLAINTEXT_BACKEND or problem is KeyringProblem.PROMPTING_BACKEND:
        return _health(problem, name, timeout)
    token = _random.token_urlsafe(16)
    try:
        backend.set_password(SERVICE, PROBE_USERNAME, token)
        found = backend.get_password(SERVICE, PROBE_USERNAME)
    except keyring.errors.NoKeyringError:
        return _health(KeyringProblem.FAIL_BACKEND, name, timeout)
    except keyring.errors.KeyringLocked:
        return _health(KeyringProblem.ERROR, name, timeout, "keyring locked", advice=LOCKED_ADVICE)
    except Exception as exc:
        return _health(KeyringProblem.ERROR, name, timeout, _safe_detail(exc, [token]))
    if found is None:
        return _health(KeyringProblem.NULL_BACKEND, name, timeout)
    if found != token:
        detail = "it returned a different value than was stored"
        return _health(KeyringProblem.ERROR, name, timeout, detail)
    try:
        backend.delete_password(SERVICE, PROBE_USERNAME)
    except Exception as exc:
        detail = f"it stored a password but could not delete it: {_safe_detail(exc, [token])}"
        return _health(KeyringProblem.ERROR, name, timeout, detail)
    return _health(KeyringProblem.OK, name, timeout, backend=backend)


def probe_keyring(
    timeout: float = DEFAULT_PROBE_TIMEOUT, backend: KeyringBackend | None = None
) -> KeyringHealth:
    """Find out whether the keyring really keeps passwords, without ever blocking past timeout.

    Writes, reads back and deletes a throwaway value in a daemon thread. Plaintext and
    terminal-prompting backends are refused before anything is written to them. When the
    round trip hangs the thread is left behind (it cannot be cancelled) and HANGING returned.
    """
    seen: list[str] = [backend_name(backend)] if backend is not None else []

    def check() -> KeyringHealth:
        chosen = backend if backend is not None else resolve_keyring_backend()
        if not seen:
            seen.append(backend_name(chosen))
        return _round_trip(chosen, timeout)

    try:
        health = _call_in_thread(check, timeout)
    except _TimedOutError:
        health = _health(KeyringProblem.HANGING, seen[0] if seen else "", timeout)
    except SecretStoreError as exc:
        health = KeyringHealth(KeyringProblem.ERROR, "", f"{exc} Choose one: {ALTERNATIVES}")
    except Exception as exc:
        health = _health(KeyringProblem.ERROR, seen[0] if seen else "", timeout, _safe_detail(exc))
    log.info("keyring probe: %s (%s)", health.problem.value, health.backend_name or "unknown")
    return health


def _keyring_set(backend: KeyringBackend, *, key: str, password: str) -> None:
    backend.set_password(SERVICE, key, password)


class KeyringStore:
    """Passwords in a keyring backend (the system keyring unless one is injected).

    Each call runs in a daemon thread with a timeout, so a keyring that stops answering
    cannot hang a worker, and quitting, forever.
    """

    def __init__(
        self,
        backend: KeyringBackend | None = None,
        *,
        timeout: float | None = DEFAULT_KEYRING_TIMEOUT,
    ) -> None:
        if backend is not None:
            self._refuse_unusable(backend)
        self._backend = backend
        self._timeout = timeout
        self._lock = threading.Lock()

    @staticmethod
    def _refuse_unusable(backend: KeyringBackend) -> None:
        problem = _unsafe_problem(backend)
        if problem is None:
            return
        advice = _advice(problem, backend_name(backend), 0, "")
        if problem in (KeyringProblem.PLAINTEXT_BACKEND, KeyringProblem.PROMPTING_BACKEND):
            raise UnsafeBackendError(advice)
        raise KeyringUnavailableError(advice)

    def _resolved(self) -> KeyringBackend:
        with self._lock:
            if self._backend is None:
                chosen = resolve_keyring_backend()
                self._refuse_unusable(chosen)
                self._backend = chosen
            return self._backend

    def describe(self) -> str:
        if self._backend is None:
            return "system keyring"
        return describe_backend_name(backend_name(self._backend))

    def __repr__(self) -> str:
        name = backend_name(self._backend) if self._backend is not None else "not resolved yet"
        return f"KeyringStore(backend={name})"

    def _attempt(
        self,
        action: str,
        call: Callable[[KeyringBackend], _T],
        account_key: str,
        kind: SecretKind,
        hidden: Iterable[str] = (),
    ) -> tuple[_T | None, SecretStoreError | None]:
        """Run call(backend); return its result, or the user-facing error to raise.

        The error is returned rather than raised so the caller raises it outside any except
        block: no chained backend exception (whose text might quote the secret) travels with it.
        """
        try:
            return _call_in_thread(lambda: call(self._resolved()), self._timeout), None
        except SecretStoreError as exc:
            return None, exc
        except _TimedOutError:
            failure: SecretStoreError = SecretStoreTimeoutError(
                f"The {self.describe()} did not answer within {self._timeout:g} s while trying "
                f"to {action} the {kind.value} password of {account_key}. It may be locked and "
                "waiting for an unlock prompt."
            )
        except keyring.errors.NoKeyringError:
            failure = KeyringUnavailableError(NO_KEYRING_ADVICE)
        except keyring.errors.KeyringLocked:
            failure = SecretStoreError(LOCKED_ADVICE)
        except Exception as exc:
            failure = SecretStoreError(
                f"Could not {action} the {kind.value} password of {account_key} in the "
                f"{self.describe()} ({_safe_detail(exc, hidden)})."
            )
        return None, failure

    def get(self, account_key: str, kind: SecretKind) -> str | None:
        key = secret_id(account_key, kind)
        password, failure = self._attempt(
            "read", lambda b: b.get_password(SERVICE, key), account_key, kind
        )
        if failure is not None:
            raise failure
        return password

    def set(self, account_key: str, kind: SecretKind, password: str) -> None:
        _check_password(password)
        key = secret_id(account_key, kind)
        _, failure = self._attempt(
            "store",
            partial(_keyring_set, key=key, password=password),
            account_key,
            kind,
            [password],
        )
        # Textual prints crash tracebacks with locals (show_locals=True): the plaintext must not
        # be a local of the frame that raises.
        del password
        if failure is not None:
            raise failure
        log.debug("stored %s password of %s in %s", kind.value, account_key, self.describe())

    def delete(self, account_key: str, kind: SecretKind) -> None:
        key = secret_id(account_key, kind)

        def forget(backend: KeyringBackend) -> None:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):  # idempotent
                backend.delete_password(SERVICE, key)

        _, failure = self._attempt("delete", forget, account_key, kind)
        if failure is not None:
            raise failure


# ---------------------------------------------------------------------------------------------
# Encrypted file (keyrings.cryptfile).


def default_encrypted_file_path() -> Path:
    """~/.local/share/poptui/secrets.cfg on Linux (platformdirs' user data directory)."""
    import platformdirs

    return platformdirs.user_data_path("poptui", appauthor=False) / "secrets.cfg"


def _display_path(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


# What keyrings.cryptfile raises when the key does not decrypt the reference value.
_WRONG_KEY_MESSAGES = frozenset({"MAC check failed", "Incorrect Password"})


class EncryptedFileStore:
    """Passwords in a keyrings.cryptfile file (Argon2 key derivation, AES-GCM).

    The passphrase is given by the caller (asked once per session by the UI): the key is set on
    the keyring object before its first use, so cryptfile never falls back to getpass. Each
    decryption derives the key with Argon2 (about 0.5 s), so values read are cached for the
    session and the cache is dropped when the file changes on disk. The first `unlock`
    creates the file if it does not exist yet: use `exists` to ask for a new passphrase twice.
    """

    def __init__(self, path: Path | str, passphrase: str) -> None:
        if not isinstance(passphrase, str) or not passphrase.strip():
            raise SecretStoreError("The passphrase of the encrypted password file cannot be empty.")
        self._path = Path(path).expanduser()
        self._passphrase = passphrase
        self._keyring: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, str | None] = {}
        self._cache_stamp: tuple[int, int] | None = None

    @property
    def path(self) -> Path:
        return self._path

    @staticmethod
    def exists(path: Path | str) -> bool:
        """True when the file already has a passphrase (so the UI asks for it, not a new one)."""
        parser = configparser.RawConfigParser()
        try:
            parser.read(Path(path).expanduser(), encoding="utf-8")
        except (OSError, configparser.Error, UnicodeDecodeError):
            return False
        return parser.has_option("keyring_2Dsetting", "password_20reference")

    def describe(self) -> str:
        return f"encrypted file {_display_path(self._path)}"

    def __repr__(self) -> str:
        return f"EncryptedFileStore(path={_display_path(self._path)!r})"

    def unlock(self) -> None:
        """Check the passphrase now (or create the file): slow, call it off the UI thread."""
        with self._lock:
            self._open()

    def _open(self) -> Any:
        if self._keyring is not None:
            return self._keyring
        from keyrings.cryptfile.cryptfile import CryptFileKeyring

        where = _display_path(self._path)
        try:
            if not self._path.parent.exists():
                self._path.parent.mkdir(mode=0o700, parents=True)
            opened = CryptFileKeyring()
            opened.file_path = str(self._path)
            # Setting the key unlocks an existing file or creates a new one; never prompts.
            opened.keyring_key = self._passphrase
        except ValueError as exc:
            if str(exc) in _WRONG_KEY_MESSAGES:
                failure: SecretStoreError = WrongPassphraseError(
                    f"Wrong passphrase for the encrypted password file {where}."
                )
            else:
                failure = SecretStoreError(
                    f"The encrypted password file {where} could not be read; it may be damaged "
                    f"or made by another program ({_safe_detail(exc, [self._passphrase])})."
                )
        except OSError as exc:
            failure = SecretStoreError(
                f"Could not open the encrypted password file {where}: "
                f"{exc.strerror or type(exc).__name__}."
            )
        except Exception as exc:
            failure = SecretStoreError(
                f"The encrypted password file {where} could not be read; it may be damaged "
                f"({_safe_detail(exc, [self._passphrase])})."
            )
        else:
            self._keyring = opened
            self._cache.clear()
            self._cache_stamp = self._stamp()
            return opened
        raise failure

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self._path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _refresh_cache(self) -> None:
        stamp = self._stamp()
        if stamp != self._cache_stamp:
            self._cache.clear()
            self._cache_stamp = stamp

    def _attempt(
        self,
        action: str,
        call: Callable[[Any], _T],
        account_key: str,
        kind: SecretKind,
        hidden: Iterable[str] = (),
    ) -> tuple[_T | None, SecretStoreError | None]:
        """Like `KeyringStore._attempt`: returns the error so it is raised unchained."""
        try:
            with self._lock:
                return call(self._open()), None
        except SecretStoreError as exc:
            return None, exc
        except OSError as exc:
            failure: SecretStoreError = SecretStoreError(
                f"Could not {action} the {kind.value} password of {account_key} in the "
                f"{self.describe()}: {exc.strerror or type(exc).__name__}."
            )
        except Exception as exc:
            failure = SecretStoreError(
                f"Could not {action} the {kind.value} password of {account_key} in the "
                f"{self.describe()} ({_safe_detail(exc, [*hidden, self._passphrase])})."
            )
        return None, failure

    def get(self, account_key: str, kind: SecretKind) -> str | None:
        key = secret_id(account_key, kind)

        def read(opened: Any) -> str | None:
            self._refresh_cache()
            if key not in self._cache:
                self._cache[key] = opened.get_password(SERVICE, key)
            return self._cache[key]

        password, failure = self._attempt("read", read, account_key, kind)
        if failure is not None:
            raise failure
        return password

    def set(self, account_key: str, kind: SecretKind, password: str) -> None:
        _check_password(password)
        key = secret_id(account_key, kind)

        write = partial(self._write, key=key, password=password)
        _, failure = self._attempt("store", write, account_key, kind, [password])
        del password, write  # see KeyringStore.set: keep it out of the raising frame's locals
        if failure is not None:
            raise failure

    def _write(self, opened: Any, *, key: str, password: str) -> None:
        self._refresh_cache()
        opened.set_password(SERVICE, key, password)
        self._cache[key] = password
        self._cache_stamp = self._stamp()

    def delete(self, account_key: str, kind: SecretKind) -> None:
        key = secret_id(account_key, kind)

        def forget(opened: Any) -> None:
            self._refresh_cache()
            with contextlib.suppress(keyring.errors.PasswordDeleteError):  # idempotent
                opened.delete_password(SERVICE, key)
            self._cache[key] = None
            self._cache_stamp = self._stamp()

        _, failure = self._attempt("delete", forget, account_key, kind)
        if failure is not None:
            raise failure


# ---------------------------------------------------------------------------------------------
# Password commands (getmail6 password_command, mpop passwordeval).

# Characters that only mean something to a shell. A command without them is split with shlex
# and run directly: no shell quoting surprises, no extra process. A command with them was
# written for a shell, so it runs with /bin/sh -c as mpop's passwordeval does.
_SHELL_SYNTAX = frozenset("|&;<>()$`*?[]~#\n")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class _PasswordCommand:
    text: str
    argv: tuple[str, ...] | None
    """None: run with the shell."""

    @classmethod
    def parse(cls, text: str) -> _PasswordCommand:
        text = text.strip()
        if not text:
            raise SecretStoreError("A password command cannot be empty.")
        if _SHELL_SYNTAX.intersection(text) or _ASSIGNMENT.match(text):
            return cls(text, None)
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            message = f"The password command `{text}` cannot be read: {exc}."
            raise SecretStoreError(message) from None
        return cls(text, argv)


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and its children (pass runs gpg), then reap it without hanging."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        # A grandchild in another session still holds the pipes: stop reading them.
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        proc.wait(timeout=2)


def _run_password_command(
    command: _PasswordCommand, timeout: float, label: str
) -> tuple[str | None, PasswordCommandError | None]:
    """Run the command; return the first line of its output, or the error to raise."""
    what = f"The password command `{command.text}` ({label})"
    args: str | list[str] = command.text if command.argv is None else list(command.argv)
    try:
        proc = subprocess.Popen(
            args,
            shell=command.argv is None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a timeout can stop all of it
        )
    except FileNotFoundError:
        program = command.argv[0] if command.argv else command.text
        return None, PasswordCommandError(f"{what} could not be started: {program} was not found.")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, PasswordCommandError(f"{what} could not be started: {reason}.")
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_process_group(proc)
        return None, PasswordCommandError(
            f"{what} did not finish within {timeout:g} s and was stopped. Is it waiting for a "
            "passphrase or a PIN (gpg-agent, a security key)? Unlock that first and try again."
        )
    output = stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        # Some tools print the password and then fail: never echo stdout, even via stderr.
        hidden = [line.strip() for line in output.splitlines() if line.strip()]
        message = _one_line(_redact(stderr.decode("utf-8", "replace"), hidden), keep_end=True)
        status = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"failed with exit status {proc.returncode}"
        )
        said = f": {message}" if message else " without an error message."
        return None, PasswordCommandError(f"{what} {status}{said}")
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None, PasswordCommandError(f"{what} printed something that is not UTF-8 text.")
    password = text.split("\n", 1)[0].rstrip("\r")
    if not password:
        return None, PasswordCommandError(f"{what} printed no password on its first line.")
    return password, None


class PasswordCommandStore:
    """Passwords printed by a command per account and kind, e.g. ``pass show mail/work``.

    Read-only: poptui never writes them, the user changes them where the command reads them.
    The first line of standard output is the password; stdin is /dev/null; the command and
    its children are killed after `timeout` seconds.
    """

    def __init__(
        self,
        commands: Mapping[tuple[str, SecretKind], str],
        *,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ) -> None:
        self._commands = {
            secret_id(account_key, kind): _PasswordCommand.parse(text)
            for (account_key, kind), text in commands.items()
        }
        self._timeout = timeout

    def command_for(self, account_key: str, kind: SecretKind) -> str | None:
        command = self._commands.get(secret_id(account_key, kind))
        return command.text if command is not None else None

    def describe(self) -> str:
        texts = sorted({command.text for command in self._commands.values()})
        if len(texts) == 1:
            return f"password command: {texts[0]}"
        return f"password commands ({len(texts)} configured)"

    def __repr__(self) -> str:
        return f"PasswordCommandStore({len(self._commands)} commands)"

    def get(self, account_key: str, kind: SecretKind) -> str | None:
        command = self._commands.get(secret_id(account_key, kind))
        if command is None:
            return None
        label = f"{account_key}, {kind.value}"
        password, failure = _run_password_command(command, self._timeout, label)
        if failure is not None:
            raise failure
        return password

    def set(self, account_key: str, kind: SecretKind, password: str) -> None:
        del password  # never stored, never kept in this frame
        command = self.command_for(account_key, kind)
        if command is None:
            raise ReadOnlyStoreError(
                f"Passwords come from password commands, and {account_key} has none for its "
                f"{kind.value} server. Add one in the account's settings."
            )
        raise ReadOnlyStoreError(
            f"The {kind.value} password of {account_key} comes from the command `{command}`; "
            "poptui cannot change it. Change it where that command reads it (for pass: "
            "`pass edit NAME`), and poptui uses the new one on the next fetch."
        )

    def delete(self, account_key: str, kind: SecretKind) -> None:
        """Nothing to do: poptui stored nothing. The command's own secret stays where it is."""


# ---------------------------------------------------------------------------------------------
# The installation's choice, persisted in settings (never the password).

StoreKind = Literal["keyring", "cryptfile", "command"]
_STORE_KINDS: tuple[StoreKind, ...] = ("keyring", "cryptfile", "command")


@dataclass(frozen=True)
class StoreChoice:
    """Which store holds the passwords; saved in the app's settings as `to_dict()`."""

    kind: StoreKind = "keyring"
    path: str | None = None
    """cryptfile only; None means `default_encrypted_file_path()`."""
    commands: Mapping[str, str] = field(default_factory=dict)
    """command only: `secret_id(account_key, kind)` -> command line."""

    def with_command(self, account_key: str, kind: SecretKind, command: str) -> StoreChoice:
        """A copy with the command for one account and kind set (validated now)."""
        _PasswordCommand.parse(command)
        commands = dict(self.commands)
        commands[secret_id(account_key, kind)] = command.strip()
        return StoreChoice("command", self.path, commands)

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"kind": self.kind}
        if self.path is not None:
            data["path"] = self.path
        if self.commands:
            data["commands"] = dict(self.commands)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> StoreChoice:
        def invalid(reason: str) -> SecretStoreError:
            return SecretStoreError(f"The saved password store setting is not valid: {reason}.")

        kind = data.get("kind", "keyring")
        if kind not in _STORE_KINDS:
            raise invalid(f"unknown kind {kind!r} (expected keyring, cryptfile or command)")
        path = data.get("path")
        if path is not None and not isinstance(path, str):
            raise invalid("path must be text")
        raw_commands = data.get("commands", {})
        if not isinstance(raw_commands, Mapping):
            raise invalid("commands must be a table")
        commands: dict[str, str] = {}
        for key, command in raw_commands.items():
            if not isinstance(key, str) or not isinstance(command, str):
                raise invalid("commands must map text to text")
            try:
                parse_secret_id(key)
            except ValueError:
                raise invalid(f"{key!r} is not ACCOUNT:incoming or ACCOUNT:outgoing") from None
            commands[key] = command
        return cls(kind, path, commands)


def open_store(
    choice: StoreChoice,
    passphrase_provider: Callable[[], str] | None = None,
    *,
    keyring_backend: KeyringBackend | None = None,
    keyring_timeout: float | None = DEFAULT_KEYRING_TIMEOUT,
    command_timeout: float = DEFAULT_COMMAND_TIMEOUT,
) -> SecretStore:
    """Open the chosen store. Blocking (the encrypted file is unlocked here): use a worker.

    `passphrase_provider` is called once, only for the encrypted file; the UI supplies it
    (a dialog, or the CLI's getpass) — this module never prompts.
    """
    if choice.kind == "keyring":
        return KeyringStore(keyring_backend, timeout=keyring_timeout)
    if choice.kind == "cryptfile":
        path = Path(choice.path) if choice.path else default_encrypted_file_path()
        if passphrase_provider is None:
            raise SecretStoreError(
                f"The encrypted password file {_display_path(path)} needs its passphrase, and "
                "none can be asked here."
            )
        store = EncryptedFileStore(path, passphrase_provider())
        store.unlock()
        return store
    commands = {parse_secret_id(key): command for key, command in choice.commands.items()}
    return PasswordCommandStore(commands, timeout=command_timeout)

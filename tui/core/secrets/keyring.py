"""The system keyring: which backend to trust, whether it really keeps passwords, and the store.

Over SSH there is often no usable keyring: keyring's fail backend raises on every call, the
null backend keeps nothing, keyrings.alt makes a plaintext file the default, a file keyring
prompts with getpass under poptui's screen, and a locked Secret Service may block forever.
`probe_keyring` finds that out up front (in a thread, with a timeout) and says what to do.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from tui.core.secrets.base import (
    DEFAULT_KEYRING_TIMEOUT,
    SERVICE,
    SecretAccess,
    SecretKind,
    check_password,
    password_words,
    secret_id,
)
from tui.core.secrets.errors import (
    KeyringUnavailableError,
    SecretStoreError,
    SecretStoreTimeoutError,
    UnsafeBackendError,
    safe_detail,
)
from tui.core.secrets.threads import CallTimedOut, call_in_thread

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

PROBE_USERNAME = "poptui-probe"
"""Keyring username of the throwaway value `probe_keyring` writes, reads back and deletes."""

DEFAULT_PROBE_TIMEOUT = 3.0

_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# What to tell the user.

ALTERNATIVES = (
    "an encrypted file (poptui asks its passphrase once per session), "
    "a password command such as `pass show mail/work`, "
    "or set PYTHON_KEYRING_BACKEND to a backend you trust."
)


def with_alternatives(reason: str) -> str:
    """`reason`, then the stores to choose instead: the whole advice, for the CLI and errors."""
    if reason.endswith("try again."):
        return f"{reason[:-1]}, or choose one: {ALTERNATIVES}"
    return f"{reason} Choose one: {ALTERNATIVES}"


NO_KEYRING_REASON = "No usable system keyring: this is common over SSH without a desktop session."
NO_KEYRING_ADVICE = with_alternatives(NO_KEYRING_REASON)
LOCKED_REASON = (
    "The system keyring is locked and could not be unlocked. Unlock it (for example by logging "
    "in to the desktop session) and try again."
)
LOCKED_ADVICE = with_alternatives(LOCKED_REASON)


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


def hanging_reason(timeout: float) -> str:
    """What a keyring that does not answer within `timeout` seconds probably is."""
    return (
        f"The system keyring did not answer within {timeout:g} s. It is probably locked and "
        "waiting for an unlock prompt on a desktop you cannot see, which is common over SSH. "
        "Unlock it in the desktop session and try again."
    )


def _reason(problem: KeyringProblem, name: str, detail: str) -> str:
    """What is wrong (or, for OK, where passwords go), without the list of alternatives."""
    if problem is KeyringProblem.OK:
        return f"Passwords are kept in the {describe_backend_name(name)}."
    if problem is KeyringProblem.FAIL_BACKEND:
        return NO_KEYRING_REASON
    if problem is KeyringProblem.NULL_BACKEND:
        return (
            f"The keyring backend {name} accepts passwords but keeps none, so poptui "
            "could not read them back."
        )
    if problem is KeyringProblem.PLAINTEXT_BACKEND:
        return (
            f"The keyring backend {name} stores passwords unencrypted in a file, so "
            "poptui will not use it (installing keyrings.alt makes such a backend the default "
            "without asking)."
        )
    if problem is KeyringProblem.PROMPTING_BACKEND:
        return (
            f"The keyring backend {name} asks for its passphrase on the terminal, which "
            "would freeze poptui's screen."
        )
    return f"The system keyring failed ({detail})."


# ---------------------------------------------------------------------------------------------
# Which backend: the user's explicit choice, else the best one that is safe.

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
            f"The keyring backend named in {source} could not be loaded ({safe_detail(exc)})."
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
        none_found: KeyringBackend = fail.Keyring()
        return none_found
    best: KeyringBackend = max(candidates, key=keyring.backend.by_priority)
    return best


# ---------------------------------------------------------------------------------------------
# The probe: does the keyring really keep a password, within the timeout?


@dataclass(frozen=True)
class KeyringHealth:
    """What `probe_keyring` found, with the message to show the user."""

    problem: KeyringProblem
    backend_name: str
    """Dotted class path ("" when it could not be determined)."""
    reason: str = ""
    """User-facing: where passwords go, or what is wrong (without the stores to use instead).
    Worded from the problem when not given; HANGING's caller gives it (it knows the timeout)."""
    detail: str | None = None
    """Technical detail for logs (exception type and redacted text), if any."""
    backend: KeyringBackend | None = field(default=None, repr=False, compare=False)
    """The backend probed, to hand to `KeyringStore` so it is not resolved twice."""

    def __post_init__(self) -> None:
        if not self.reason:
            worded = _reason(self.problem, self.backend_name, self.detail or "")
            object.__setattr__(self, "reason", worded)

    @property
    def usable(self) -> bool:
        return self.problem is KeyringProblem.OK

    @property
    def advice(self) -> str:
        """`reason`, and when the keyring is not usable the stores to choose instead."""
        return self.reason if self.usable else with_alternatives(self.reason)


def _round_trip(backend: KeyringBackend) -> KeyringHealth:
    import secrets

    name = backend_name(backend)
    problem = _unsafe_problem(backend)
    if problem is KeyringProblem.PLAINTEXT_BACKEND or problem is KeyringProblem.PROMPTING_BACKEND:
        return KeyringHealth(problem, name)
    token = secrets.token_urlsafe(16)
    try:
        backend.set_password(SERVICE, PROBE_USERNAME, token)
        found = backend.get_password(SERVICE, PROBE_USERNAME)
    except keyring.errors.NoKeyringError:
        return KeyringHealth(KeyringProblem.FAIL_BACKEND, name)
    except keyring.errors.KeyringLocked:
        return KeyringHealth(KeyringProblem.ERROR, name, LOCKED_REASON, "keyring locked")
    except Exception as exc:
        return KeyringHealth(KeyringProblem.ERROR, name, detail=safe_detail(exc, [token]))
    if found is None:
        return KeyringHealth(KeyringProblem.NULL_BACKEND, name)
    if found != token:
        detail = "it returned a different value than was stored"
        return KeyringHealth(KeyringProblem.ERROR, name, detail=detail)
    try:
        backend.delete_password(SERVICE, PROBE_USERNAME)
    except Exception as exc:
        detail = f"it stored a password but could not delete it: {safe_detail(exc, [token])}"
        return KeyringHealth(KeyringProblem.ERROR, name, detail=detail)
    return KeyringHealth(KeyringProblem.OK, name, backend=backend)


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
        return _round_trip(chosen)

    try:
        health = call_in_thread(check, timeout)
    except CallTimedOut:
        health = KeyringHealth(
            KeyringProblem.HANGING, seen[0] if seen else "", hanging_reason(timeout)
        )
    except SecretStoreError as exc:
        health = KeyringHealth(KeyringProblem.ERROR, "", str(exc))
    except Exception as exc:
        health = KeyringHealth(
            KeyringProblem.ERROR, seen[0] if seen else "", detail=safe_detail(exc)
        )
    log.info("keyring probe: %s (%s)", health.problem.value, health.backend_name or "unknown")
    return health


# ---------------------------------------------------------------------------------------------
# The store.


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
        advice = KeyringHealth(problem, backend_name(backend)).advice
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
        self, access: SecretAccess, call: Callable[[KeyringBackend], _T], hidden: Iterable[str] = ()
    ) -> tuple[_T | None, SecretStoreError | None]:
        """Run call(backend); return its result, or the user-facing error to raise.

        The error is returned rather than raised so the caller raises it outside any except
        block: no chained backend exception (whose text might quote the secret) travels with it.
        A backend's own words are shown without the secrets in `hidden` (`SecretAccess.failed`).
        """
        try:
            return call_in_thread(lambda: call(self._resolved()), self._timeout), None
        except SecretStoreError as exc:
            return None, exc
        except CallTimedOut:
            failure: SecretStoreError = SecretStoreTimeoutError(
                f"The {self.describe()} did not answer within {self._timeout:g} s while trying "
                f"to {access.action} the {password_words(access.kind, access.mailbox)}. It may be "
                "locked and waiting for an unlock prompt."
            )
        except keyring.errors.NoKeyringError:
            failure = KeyringUnavailableError(NO_KEYRING_ADVICE)
        except keyring.errors.KeyringLocked:
            failure = SecretStoreError(LOCKED_ADVICE)
        except Exception as exc:
            failure = access.failed(self.describe(), exc, hidden)
        return None, failure

    def get(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> str | None:
        key = secret_id(account_key, kind)
        password, failure = self._attempt(
            SecretAccess("read", account_key, kind, mailbox),
            lambda b: b.get_password(SERVICE, key),
        )
        if failure is not None:
            raise failure
        return password

    def set(self, account_key: str, kind: SecretKind, password: str, *, mailbox: str = "") -> None:
        check_password(password)
        key = secret_id(account_key, kind)
        store = partial(_keyring_set, key=key, password=password)
        access = SecretAccess("store", account_key, kind, mailbox)
        _, failure = self._attempt(access, store, [password])
        # Textual prints crash tracebacks with locals (show_locals=True): the plaintext must not
        # be a local of the frame that raises.
        del password, store
        if failure is not None:
            raise failure
        log.debug("stored the %s in %s", password_words(kind, mailbox), self.describe())

    def delete(self, account_key: str, kind: SecretKind, *, mailbox: str = "") -> None:
        key = secret_id(account_key, kind)

        def forget(backend: KeyringBackend) -> None:
            with contextlib.suppress(keyring.errors.PasswordDeleteError):  # idempotent
                backend.delete_password(SERVICE, key)

        _, failure = self._attempt(SecretAccess("delete", account_key, kind, mailbox), forget)
        if failure is not None:
            raise failure

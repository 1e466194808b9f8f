"""`poptui account …` and `poptui password set`: the account form as options, and its passwords.

Values that came from elsewhere (names, addresses, hosts, a server's last error) are cleaned
before they are printed: a name holding escape sequences must not repaint the user's terminal.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tui.cli import signin
from tui.cli.console import (
    EXIT_OK,
    CommandFailed,
    Console,
    prompt_twice,
    read_stdin_lines,
)
from tui.cli.context import CommandContext
from tui.core.delivery import (
    DeliveryTarget,
    add_target,
    list_targets,
    parse_target,
    remove_target,
)
from tui.core.errors import PoptuiError
from tui.core.settings import (
    DEFAULT_POP3_PORTS,
    DEFAULT_SMTP_PORTS,
    AccountSettings,
    DeletePolicy,
    Security,
)
from tui.core.storage.accounts import AccountStore, settings_of
from tui.core.storage.models import Account
from tui.core.text import clean, one_line

if TYPE_CHECKING:
    from tui.core.setup.validation import Problem


def run(context: CommandContext) -> int:
    """Run `poptui account VERB` or `poptui password set`."""
    if context.args.command == "password":
        return set_password(context)
    verbs = {
        "add": add,
        "list": list_accounts,
        "show": show,
        "edit": edit,
        "remove": remove,
        "activate": activate,
        "signin": signin.signin,
        "client-id": signin.set_client_id,
    }
    return verbs[context.args.verb](context)


# ---------------------------------------------------------------- options to settings


def _int_option(value: str | None, what: str, current: int) -> int:
    if value is None:
        return current
    from tui.core.setup import validation

    number, problem = validation.parse_number(value, what=what)
    if problem is not None or number is None:
        raise CommandFailed(problem or f"{what}: not a number")
    return number


def _port_option(value: str | None, what: str, current: int) -> int:
    if value is None:
        return current
    from tui.core.setup import validation

    number, problem = validation.parse_port(value)
    if problem is not None or number is None:
        raise CommandFailed(f"{what}: {problem}")
    return number


def settings_from_args(args: argparse.Namespace, base: AccountSettings) -> AccountSettings:
    """Overlay the options that were given on `base` (the defaults, or the account being edited)."""
    s = replace(base)
    if getattr(args, "rename", None):
        s.name = args.rename
    for option, attribute in (
        ("email", "email"),
        ("incoming_host", "incoming_host"),
        ("username", "username"),
        ("outgoing_host", "outgoing_host"),
        ("outgoing_username", "outgoing_username"),
        ("pin_fingerprint", "pinned_fingerprint"),
        ("pin_outgoing_fingerprint", "outgoing_pinned_fingerprint"),
    ):
        value = getattr(args, option)
        if value is not None:
            setattr(s, attribute, value.strip())
    if args.incoming_security is not None:
        s.incoming_security = Security(args.incoming_security)
        if args.incoming_port is None:
            s.incoming_port = DEFAULT_POP3_PORTS[s.incoming_security]
    if args.outgoing_security is not None:
        s.outgoing_security = Security(args.outgoing_security)
        if args.outgoing_port is None:
            s.outgoing_port = DEFAULT_SMTP_PORTS[s.outgoing_security]
    s.incoming_port = _port_option(args.incoming_port, "--incoming-port", s.incoming_port)
    s.outgoing_port = _port_option(args.outgoing_port, "--outgoing-port", s.outgoing_port)
    if args.delete_policy is not None:
        s.delete_policy = DeletePolicy(args.delete_policy)
    s.delete_after_days = _int_option(
        args.delete_after_days, "--delete-after-days", s.delete_after_days
    )
    if args.same_credentials is not None:
        s.same_credentials_for_outgoing = args.same_credentials
    s.poll_minutes = _int_option(args.poll_minutes, "--poll-minutes", s.poll_minutes)
    s.max_messages_per_fetch = _int_option(
        args.max_messages, "--max-messages", s.max_messages_per_fetch
    )
    s.max_message_bytes = _int_option(
        args.max_message_size, "--max-message-size", s.max_message_bytes
    )
    signin.apply_oauth_options(args, s)
    return s


def _report_problems(console: Console, problems: Sequence[Problem]) -> None:
    for problem in problems:
        label = "error" if problem.is_error else "warning"
        console.warn(f"{label}: {problem.field.replace('_', '-')}: {problem.message}")


def account_summary(store: AccountStore, account: Account) -> dict[str, Any]:
    """The JSON shape of an account for `list --json` / `show --json` (no passwords, ever)."""
    settings = settings_of(account)
    data: dict[str, Any] = {
        "name": settings.name,
        "email": settings.email,
        "active": bool(account.is_active),
        "incoming": {
            "host": settings.incoming_host,
            "port": settings.incoming_port,
            "security": settings.incoming_security.value,
            "username": settings.username,
        },
        "outgoing": {
            "host": settings.outgoing_host,
            "port": settings.outgoing_port,
            "security": settings.outgoing_security.value,
            "username": settings.effective_outgoing_username,
            "same_credentials": settings.same_credentials_for_outgoing,
            "pinned_fingerprint": settings.outgoing_pinned_fingerprint or None,
        },
        "delete_policy": settings.delete_policy.value,
        "delete_after_days": settings.delete_after_days,
        "poll_minutes": settings.poll_minutes,
        "max_messages_per_fetch": settings.max_messages_per_fetch,
        "max_message_bytes": settings.max_message_bytes,
        "sharing": settings.sharing.value,
        "pinned_fingerprint": settings.pinned_fingerprint or None,
        "login": {
            "method": settings.auth_method,
            "provider": settings.oauth_provider or None,
            "client_id": settings.oauth_client_id or None,
            "token_command": settings.oauth_token_command or None,
        },
        "last_fetch": {
            "at": account.last_fetch_at.isoformat() if account.last_fetch_at else None,
            "status": account.last_fetch_status,
            "error": account.last_fetch_error or None,
            "new_messages": account.last_fetch_new,
        },
        "disabled": bool(account.disabled),
        "disabled_reason": account.disabled_reason or None,
        "messages": store.message_count(account),
        "deliver_to": [
            {"target": t.spec, "error": t.last_error or None} for t in list_targets(account)
        ],
    }
    return data


def _targets_from(specs: Sequence[str]) -> list[DeliveryTarget]:
    """`--deliver-to` values as targets, all checked before anything is changed."""
    return [parse_target(spec) for spec in specs]


def _change_targets(
    account: Account,
    added: Sequence[DeliveryTarget],
    dropped: Sequence[DeliveryTarget],
    *,
    drop_all: bool = False,
) -> None:
    for target in list_targets(account) if drop_all else dropped:
        if not remove_target(account, target):
            raise CommandFailed(f"{account.name!r} does not deliver to {target.spec}")
    for target in added:
        add_target(account, target)


# ---------------------------------------------------------------- account verbs


def add(context: CommandContext) -> int:
    from tui.core.setup import providers, validation

    args, console, store = context.args, context.console, context.accounts
    settings = settings_from_args(args, AccountSettings(name=args.name))
    if not args.username and settings.email:
        settings.username = settings.email
    if settings.email and not args.no_preset and not args.incoming_host:
        preset = providers.lookup_known(settings.email)
        if preset is not None:
            settings, filled = providers.apply_preset(settings, preset)
            settings = settings_from_args(args, settings)  # explicit options win
            for line in filled:
                console.warn(f"filled: {line}")
            if preset.note and not (preset.oauth_only and settings.uses_oauth2):
                console.warn(f"note: {preset.note}")
    if settings.same_credentials_for_outgoing and not settings.outgoing_host:
        settings = providers.fill_outgoing_from_incoming(settings)
    problems = validation.validate_account(settings, existing_names=store.names())
    _report_problems(console, problems)
    if validation.has_errors(problems):
        raise CommandFailed("Account not added: fix the errors above")
    passwords: list[str] = []
    if args.password_stdin and settings.uses_oauth2:
        raise CommandFailed("An OAuth2 account has no password: sign it in instead")
    if args.password_stdin:
        passwords = read_stdin_lines(1 if settings.same_credentials_for_outgoing else 2)
    targets = _targets_from(args.deliver_to)
    settings, client_secret = signin.split_client_secret(settings)
    account = store.create(settings, activate=True if args.activate else None)
    _change_targets(account, targets, [])
    if client_secret:
        signin.keep_client_secret_of(context, account.secret_key, account.name, client_secret)
    if passwords:
        from tui.core.secrets import SecretKind

        secrets = context.secrets()
        secrets.set(account.secret_key, SecretKind.INCOMING, passwords[0], mailbox=account.name)
        if len(passwords) > 1:
            secrets.set(account.secret_key, SecretKind.OUTGOING, passwords[1], mailbox=account.name)
    state = " (active)" if account.is_active else ""
    console.print(f"Added account {account.name!r}{state}")
    if settings.uses_oauth2 and not settings.oauth_token_command:
        console.print(f"Sign it in with: poptui account signin {account.name!r}")
    elif not passwords and not settings.uses_oauth2:
        console.print(f"Set its password with: poptui password set {account.name!r} --incoming")
    return EXIT_OK


def list_accounts(context: CommandContext) -> int:
    console, store = context.console, context.accounts
    accounts = store.list()
    if context.args.json:
        console.json([account_summary(store, a) for a in accounts])
        return EXIT_OK
    if not accounts:
        console.print("No accounts yet. Add one with: poptui account add NAME --email ADDRESS")
        return EXIT_OK
    from tui.core.oauth.signin import needs_sign_in

    for account in accounts:
        marker = "*" if account.is_active else " "
        state = "disabled" if account.disabled else account.last_fetch_status
        if needs_sign_in(account):
            state = f"{state}: sign in again"
        console.print(
            f"{marker} {clean(account.name)}  <{clean(account.email)}>  "
            f"{clean(account.incoming_host)}:{account.incoming_port}  {clean(state)}"
        )
    console.print("(* = active mailbox)")
    return EXIT_OK


def show(context: CommandContext) -> int:
    console, store = context.console, context.accounts
    data = account_summary(store, store.get(context.args.name))
    if context.args.json:
        console.json(data)
        return EXIT_OK
    for key, value in data.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={clean(str(v))}" for k, v in value.items())
            console.print(f"{key}: {inner}")
        elif key == "deliver_to":
            for target in value:
                failed = f"  (failing: {one_line(target['error'])})" if target["error"] else ""
                console.print(f"deliver to: {one_line(target['target'])}{failed}")
        else:
            console.print(f"{key}: {clean(str(value))}")
    return EXIT_OK


def edit(context: CommandContext) -> int:
    from tui.core.setup import validation

    console, store = context.console, context.accounts
    account = store.get(context.args.name)
    settings = settings_from_args(context.args, settings_of(account))
    names = [n for n in store.names() if n != account.name]
    problems = validation.validate_account(settings, existing_names=names)
    _report_problems(console, problems)
    if validation.has_errors(problems):
        raise CommandFailed("Account not changed: fix the errors above")
    targets = _targets_from(context.args.deliver_to)
    dropped = _targets_from([t for t in context.args.no_deliver_to if t != "all"])
    settings, client_secret = signin.split_client_secret(settings)
    store.update(account.name, settings)
    if client_secret:
        signin.keep_client_secret_of(context, account.secret_key, settings.name, client_secret)
    _change_targets(account, targets, dropped, drop_all="all" in context.args.no_deliver_to)
    console.print(f"Updated account {settings.name!r}")
    return EXIT_OK


def remove(context: CommandContext) -> int:
    """Remove the account and, as the app does, its passwords from the secret store.

    The account goes even when its passwords cannot (no store opens, or the store fails): a
    warning then names the store they stay in.
    """
    from tui.core.secrets import SecretStoreError

    args, console, store = context.args, context.console, context.accounts
    store.get(args.name)  # an unknown name fails here, before any passphrase is asked
    try:
        secrets = context.secrets()
    except PoptuiError as error:  # the store's own errors, or no terminal for the passphrase
        _passwords_stay(context, args.name, error)
        secrets = None
    try:
        store.remove(args.name, keep_mail=args.keep_mail, secrets=secrets)
    except SecretStoreError as error:  # raised after the account was removed
        _passwords_stay(context, args.name, error)
    kept = "its fetched mail was kept" if args.keep_mail else "its fetched mail was deleted"
    console.print(f"Removed account {args.name!r}; {kept}")
    return EXIT_OK


def _passwords_stay(context: CommandContext, name: str, error: PoptuiError) -> None:
    from tui.cli.secrets import configured_store_name

    context.console.warn(
        f"warning: the passwords of {name!r} could not be removed from "
        f"{configured_store_name()}: {one_line(str(error))}"
    )


def activate(context: CommandContext) -> int:
    account = context.accounts.activate(context.args.name)
    context.console.print(f"Active mailbox: {clean(account.name)}")
    return EXIT_OK


# ---------------------------------------------------------------- password


def set_password(context: CommandContext) -> int:
    from tui.core.secrets import SecretKind

    args, console, store = context.args, context.console, context.accounts
    account = store.get(args.name)
    settings = settings_of(account)
    kind = SecretKind.INCOMING if args.incoming else SecretKind.OUTGOING
    if kind is SecretKind.INCOMING and settings.uses_oauth2:
        raise CommandFailed(
            f"{account.name!r} signs in with OAuth2, not a password: "
            f"poptui account signin {account.name!r}"
        )
    if kind is SecretKind.OUTGOING and settings.same_credentials_for_outgoing:
        raise CommandFailed(
            f"{account.name!r} uses the same credentials for the outgoing server; set the "
            "incoming password, or turn that off with: poptui account edit "
            f"{account.name!r} --separate-outgoing-credentials"
        )
    if args.stdin:
        password = read_stdin_lines(1)[0]
    else:
        password = prompt_twice(f"{kind.value.capitalize()} password for {clean(account.name)}: ")
    context.secrets().set(account.secret_key, kind, password, mailbox=account.name)
    if store.enable_if_fixed(account.name, new_incoming_password=kind is SecretKind.INCOMING):
        console.print(f"{account.name!r} was disabled; the new password enables it again")
    console.print(f"{kind.value.capitalize()} password for {account.name!r} saved")
    return EXIT_OK

"""`poptui account signin NAME`, `poptui account client-id ID` and the `--oauth2` options.

Signing in works in a bare SSH session: the device flow shows an address and a code to enter on
any device; the browser flow (Gmail) prints the address to open and reads back the address the
browser ended on, unless the loopback listener catches it first (a desktop browser).
Everything the provider sent is cleaned before it is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import sys
from typing import TYPE_CHECKING

from tui.cli.console import EXIT_OK, CommandFailed, Console
from tui.cli.context import CommandContext
from tui.core.settings import AUTH_OAUTH2, AUTH_PASSWORD, AccountSettings
from tui.core.text import clean

if TYPE_CHECKING:
    from tui.core.oauth.flows import LoopbackListener
    from tui.core.oauth.providers import Endpoints
    from tui.core.oauth.tokens import TokenSet

_OPTIONS = (
    ("provider", "oauth_provider"),
    ("client_id", "oauth_client_id"),
    ("client_secret", "oauth_client_secret"),
    ("authorize_url", "oauth_authorize_url"),
    ("token_url", "oauth_token_url"),
    ("device_url", "oauth_device_url"),
    ("scope", "oauth_scope"),
    ("token_command", "oauth_token_command"),
)


def apply_oauth_options(args: argparse.Namespace, settings: AccountSettings) -> None:
    """`--oauth2` / `--password-login` and the endpoint options, onto the settings."""
    if getattr(args, "oauth2", None):
        settings.auth_method = AUTH_OAUTH2
    if getattr(args, "password_login", None):
        settings.auth_method = AUTH_PASSWORD
    given = False
    for option, attribute in _OPTIONS:
        value = getattr(args, option, None)
        if value is not None:
            setattr(settings, attribute, value.strip())
            given = True
    tenant = getattr(args, "tenant", None)
    if tenant is not None:
        given = True
        settings.oauth_provider = settings.oauth_provider or "microsoft"
        if settings.oauth_provider != "microsoft":
            raise CommandFailed("--tenant is for Microsoft accounts (--provider microsoft)")
        from tui.core.oauth.providers import with_tenant

        changed = with_tenant(settings, tenant)
        for attribute in ("oauth_token_url", "oauth_authorize_url", "oauth_device_url"):
            setattr(settings, attribute, getattr(changed, attribute))
    if given and settings.auth_method != AUTH_OAUTH2:
        raise CommandFailed(
            "The OAuth2 options need --oauth2 (this mailbox signs in with a password)"
        )
    if given:
        from tui.core.oauth.providers import oauth_settings_problem

        problem = oauth_settings_problem(settings)
        if problem is not None:
            option = "--" + problem.field.removeprefix("oauth_").replace("_", "-")
            raise CommandFailed(f"{option}: {problem.message}")


def split_client_secret(settings: AccountSettings) -> tuple[AccountSettings, str]:
    from tui.core.oauth.signin import split_client_secret as split

    return split(settings)


def keep_client_secret_of(
    context: CommandContext, account_key: str, name: str, secret: str
) -> None:
    """`--client-secret` goes to the secret store (never the database)."""
    from tui.core.oauth.signin import keep_client_secret

    keep_client_secret(context.secrets(), account_key, name, secret)


def set_client_id(context: CommandContext) -> int:
    """The client id for every account that sets none (per provider, or for all)."""
    from tui.core.oauth.signin import set_global_client_id

    args = context.args
    client_id = args.client_id.strip()
    if not client_id or any(c.isspace() for c in client_id):
        raise CommandFailed("A client id is one word, as the provider's app registration shows it")
    set_global_client_id(client_id, args.provider or "")
    which = f"{args.provider} accounts" if args.provider else "every OAuth2 account"
    context.console.print(f"Client id saved for {which} that sets none of its own")
    return EXIT_OK


def signin(context: CommandContext) -> int:
    """Sign an OAuth2 account in, keep its refresh token in the secret store."""
    from tui.core.oauth.providers import Flow
    from tui.core.oauth.signin import endpoints_of, missing_scope_problem, save_sign_in

    args, console, accounts = context.args, context.console, context.accounts
    account = accounts.get(args.name)
    name = clean(account.name)
    if account.auth_method != AUTH_OAUTH2:
        raise CommandFailed(
            f"{name} logs in with a password; switch it first: "
            f"poptui account edit {account.name!r} --oauth2"
        )
    if account.oauth_token_command:
        raise CommandFailed(f"{name} takes its tokens from its token command: nothing to sign in")
    secrets = context.secrets()  # the passphrase (if any) is asked before the sign-in, not after
    endpoints = endpoints_of(account, secrets)
    if endpoints.flow is Flow.DEVICE and not args.browser:
        tokens = _device(console, endpoints)
    else:
        tokens = _browser(console, endpoints)
    problem = missing_scope_problem(endpoints, tokens)
    if problem:
        raise CommandFailed(f"{name}: {problem}")
    save_sign_in(account, secrets, tokens)
    if accounts.enable_if_fixed(account.name, new_incoming_password=True):
        console.print(f"{name} was disabled; signing in enables it again")
    console.print(f"Signed in: {name} fetches with OAuth2 from now on")
    return EXIT_OK


def _device(console: Console, endpoints: Endpoints) -> TokenSet:
    from tui.core.oauth.flows import start_device, wait_for_device

    code = start_device(endpoints)
    console.print("To sign in, open this address in a browser on any device:")
    console.print(f"    {clean(code.verification_uri)}")
    _draw_qr(console, code.verification_uri_complete or code.verification_uri)
    console.print("and enter the code:")
    console.print(f"    {' '.join(clean(code.user_code))}")
    console.print(f"    ({clean(code.user_code)})")
    try:  # the line that says Ctrl+C cancels is inside: a Ctrl+C right after it is caught too
        console.print(
            f"Waiting for you to approve (the code works for {code.expires_in // 60} minutes; "
            "Ctrl+C cancels)…"
        )
        return wait_for_device(endpoints, code)
    except KeyboardInterrupt:
        raise CommandFailed("Sign-in cancelled; nothing was saved") from None


QR_COLOURS = "\x1b[97;40m"
"""Light modules bright white on black, whatever the terminal's own colours."""
QR_RESET = "\x1b[0m"


def _draw_qr(console: Console, address: str) -> None:
    """The address as a QR code for a phone's camera, when a person's terminal shows this and
    the code fits (the address was verified https/loopback printable ASCII by the flow)."""
    if not console.is_terminal:
        return
    import shutil

    from tui.core.oauth.qr import qr_lines

    size = shutil.get_terminal_size()
    lines = qr_lines(address, width=size.columns - 4, height=size.lines - 10)
    if not lines:
        return
    console.print("or scan this with a phone:")
    for line in lines:  # block characters only: nothing a server sent
        console.out.write(f"    {QR_COLOURS}{line}{QR_RESET}\n")


def _browser(console: Console, endpoints: Endpoints) -> TokenSet:
    from tui.core.oauth.flows import BrowserSignIn, LoopbackListener

    listener = LoopbackListener()
    try:
        sign_in = BrowserSignIn(endpoints, listener.redirect_uri)
        console.print("Open this address in a browser and approve:")
        console.print(f"    {clean(sign_in.address)}")
        console.print(
            "On this computer the sign-in then finishes by itself. Over SSH the browser ends on "
            "a page that does not load: copy that page's whole address from the address bar and "
            "paste it here, then press Enter (Ctrl+C cancels)."
        )
        ended_on = _wait_for_redirect(listener)
        return sign_in.finish(ended_on)
    except KeyboardInterrupt:
        raise CommandFailed("Sign-in cancelled; nothing was saved") from None
    finally:
        listener.close()


def _wait_for_redirect(listener: LoopbackListener) -> str:
    """Whichever comes first: the loopback redirect, or a pasted line on standard input."""
    stdin = sys.stdin
    while True:
        caught = listener.wait(0.2)
        if caught is not None:
            return caught
        with contextlib.suppress(ValueError, OSError):
            ready, _, _ = select.select([stdin], [], [], 0.3)
            if ready:
                line = stdin.readline()
                if not line:
                    raise CommandFailed("No address was pasted; nothing was saved")
                if line.strip():
                    return line

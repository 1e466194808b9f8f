"""The headless command line: the same core as the app, scriptable over SSH.

Exit codes: 0 ok, 1 failure (worded on stderr), 2 usage. Importing this module must not import
Textual; only running the app (no subcommand) does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from tui import __version__
from tui.core.secrets import SecretStoreError
from tui.core.storage.accounts import AccountError, AccountStore, settings_of
from tui.core.storage.db import DatabaseError, open_database, resolve_database_url
from tui.core.storage.models import Account
from tui.core.storage.settings import (
    DEFAULT_POP3_PORTS,
    DEFAULT_SMTP_PORTS,
    AccountSettings,
    DeletePolicy,
    Security,
    SharingPermission,
)

if TYPE_CHECKING:
    from tui.core.setup.validation import Problem
from tui.core.sharing.postgres_rls import TeamSetupError
from tui.core.sharing.rules import SharingError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CommandFailed(Exception):
    """A failure already worded for the user; printed on stderr with exit code 1."""


class Console:
    """Where commands write; injectable so tests can capture output."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")

    def json(self, value: Any) -> None:
        self.out.write(json.dumps(value, indent=2, default=str) + "\n")


# ---------------------------------------------------------------- argument parsing


def _add_account_fields(parser: argparse.ArgumentParser, *, for_edit: bool) -> None:
    """Every form field as an option; defaults are None so edit changes only those given."""
    securities = [s.value for s in Security]
    policies = [p.value for p in DeletePolicy]
    parser.add_argument("--email", help="the email address")
    parser.add_argument("--incoming-host", help="POP3 server, e.g. pop.example.com")
    parser.add_argument("--incoming-port", help="POP3 port (995 for SSL/TLS, 110 for STARTTLS)")
    parser.add_argument("--incoming-security", choices=securities, help="default ssl")
    parser.add_argument("--username", help="login name (often the full address)")
    parser.add_argument(
        "--delete-policy", choices=policies, help="when mail is deleted on the server"
    )
    parser.add_argument("--delete-after-days", help="N for --delete-policy after_days")
    same = parser.add_mutually_exclusive_group()
    same.add_argument(
        "--same-credentials",
        dest="same_credentials",
        action="store_const",
        const=True,
        help="use the incoming username and password for the outgoing server (default)",
    )
    same.add_argument(
        "--separate-outgoing-credentials",
        dest="same_credentials",
        action="store_const",
        const=False,
        help="the outgoing server has its own username and password",
    )
    parser.add_argument("--outgoing-host", help="SMTP server")
    parser.add_argument("--outgoing-port", help="SMTP port (465 SSL/TLS, 587 STARTTLS)")
    parser.add_argument("--outgoing-security", choices=securities)
    parser.add_argument("--outgoing-username")
    parser.add_argument("--poll-minutes", help="how often the app fetches (1-1440, default 5)")
    parser.add_argument("--max-messages", help="messages per fetch at most (0 = no limit)")
    parser.add_argument("--max-message-size", help="skip messages larger than this many bytes")
    parser.add_argument(
        "--pin-fingerprint", help="trust a certificate with this SHA-256 fingerprint"
    )
    parser.add_argument(
        "--pin-outgoing-fingerprint", help="the same for the outgoing server's certificate"
    )
    if for_edit:
        parser.add_argument("--rename", metavar="NEW_NAME")
        parser.add_argument("--password-stdin", action="store_true", help=argparse.SUPPRESS)
    else:
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the incoming password from the first line of stdin "
            "(and the outgoing one from the second, with --separate-outgoing-credentials)",
        )
        parser.add_argument(
            "--no-preset", action="store_true", help="do not fill servers from the provider table"
        )
        parser.add_argument("--activate", action="store_true", help="make it the active mailbox")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poptui",
        description="POP3 mailboxes in the terminal. Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"poptui {__version__}")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST/DB (default: $POPTUI_DATABASE, "
        "else a SQLite file in your data directory)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    account = commands.add_parser("account", help="add, list, show, edit, remove, activate")
    verbs = account.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="add an account (every form field is an option)")
    add.add_argument("name", help="a name for the mailbox, unique")
    _add_account_fields(add, for_edit=False)
    listing = verbs.add_parser("list", help="list accounts")
    listing.add_argument("--json", action="store_true")
    show = verbs.add_parser("show", help="show one account")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")
    edit = verbs.add_parser("edit", help="change fields of an account")
    edit.add_argument("name")
    _add_account_fields(edit, for_edit=True)
    remove = verbs.add_parser("remove", help="remove an account")
    remove.add_argument("name")
    keep = remove.add_mutually_exclusive_group(required=True)
    keep.add_argument("--keep-mail", action="store_true", help="keep its fetched mail, archived")
    keep.add_argument("--drop-mail", action="store_true", help="delete its fetched mail too")
    activate = verbs.add_parser("activate", help="make an account the active mailbox")
    activate.add_argument("name")

    password = commands.add_parser("password", help="set an account's passwords")
    pverbs = password.add_subparsers(dest="verb", metavar="VERB", required=True)
    pset = pverbs.add_parser("set", help="set the incoming or the outgoing password")
    pset.add_argument("name", metavar="ACCOUNT")
    which = pset.add_mutually_exclusive_group(required=True)
    which.add_argument("--incoming", action="store_true")
    which.add_argument("--outgoing", action="store_true")
    pset.add_argument("--stdin", action="store_true", help="read the password from stdin")

    secrets = commands.add_parser("secrets", help="choose where passwords are kept")
    sverbs = secrets.add_subparsers(dest="verb", metavar="VERB", required=True)
    sverbs.add_parser("show", help="show the password store in use")
    use = sverbs.add_parser("use", help="keyring | file | command")
    use_kinds = use.add_subparsers(dest="store_kind", metavar="STORE", required=True)
    use_kinds.add_parser("keyring", help="the system keyring (needs a working Secret Service)")
    use_file = use_kinds.add_parser("file", help="an encrypted file, passphrase asked once")
    use_file.add_argument("--path", help="where the file lives (default: your data directory)")
    use_command = use_kinds.add_parser("command", help="a command printing the password")
    use_command.add_argument("name", metavar="ACCOUNT")
    use_which = use_command.add_mutually_exclusive_group(required=True)
    use_which.add_argument("--incoming", action="store_true")
    use_which.add_argument("--outgoing", action="store_true")
    use_command.add_argument("command_line", metavar="COMMAND", help="e.g. 'pass show mail/work'")

    fetch = commands.add_parser("fetch", help="fetch new mail (the active mailbox by default)")
    target = fetch.add_mutually_exclusive_group()
    target.add_argument("--account", metavar="NAME", help="fetch this account")
    target.add_argument("--all", action="store_true", help="fetch every enabled account")
    target.add_argument(
        "--test", metavar="ACCOUNT", help="check settings without fetching (CAPA, TLS, login, STAT)"
    )
    fetch.add_argument("--quiet", action="store_true", help="print only errors")
    fetch.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for another fetch of the same account to finish",
    )
    fetch.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="network timeout (default 30)",
    )
    fetch.add_argument("--ca-file", help="trust this CA bundle in addition to pinning")

    sharing = commands.add_parser("sharing", help="who else may see a mailbox's mail")
    shverbs = sharing.add_subparsers(dest="verb", metavar="VERB", required=True)
    sh_show = shverbs.add_parser("show", help="the permission in force and who can see the mail")
    sh_show.add_argument("name", metavar="ACCOUNT")
    sh_show.add_argument("--json", action="store_true")
    sh_set = shverbs.add_parser("set", help="choose the permission (where User's choice allows)")
    sh_set.add_argument("name", metavar="ACCOUNT")
    sh_set.add_argument("permission", choices=[p.value for p in SharingPermission])
    sh_set.add_argument(
        "--with",
        dest="shared_with",
        action="append",
        default=[],
        metavar="USER",
        help="with custom: a user to share with (repeatable)",
    )
    sh_set.add_argument(
        "--exclude-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="with public: keep mail to/from this domain private (up to 5)",
    )

    admin = commands.add_parser("admin", help="roles and sharing policies (administrators)")
    averbs = admin.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, text in (("grant", "make USER an administrator"), ("revoke", "take the role back")):
        role = averbs.add_parser(verb, help=text)
        role.add_argument("user", metavar="USER")
    users = averbs.add_parser("users", help="list users and their roles")
    users.add_argument("--json", action="store_true")
    audit = averbs.add_parser("audit", help="recent changes to roles and sharing")
    audit.add_argument("--json", action="store_true")
    policy = averbs.add_parser("policy", help="show | set | clear sharing policies")
    pverbs2 = policy.add_subparsers(dest="policy_verb", metavar="ACTION", required=True)
    p_show = pverbs2.add_parser("show", help="every policy, and the default")
    p_show.add_argument("--json", action="store_true")
    for verb in ("set", "clear"):
        pol = pverbs2.add_parser(verb, help=f"{verb} the policy of a user or a role")
        scope = pol.add_mutually_exclusive_group(required=True)
        scope.add_argument("--user", metavar="USER")
        scope.add_argument("--role", choices=["admin", "user"])
        if verb == "set":
            what = pol.add_mutually_exclusive_group(required=True)
            what.add_argument(
                "--permission",
                choices=[p.value for p in SharingPermission],
                help="a fixed permission",
            )
            what.add_argument(
                "--users-choice", action="store_true", help="the owner picks (User's choice)"
            )
            pol.add_argument(
                "--lock", action="store_true", help="the user cannot change their current choice"
            )
            pol.add_argument("--exclude-domain", action="append", default=[], metavar="DOMAIN")
    setup = averbs.add_parser(
        "setup-postgres",
        help="prepare a team PostgreSQL database with row-level security (as a superuser)",
    )
    setup.add_argument(
        "--user",
        dest="team_users",
        action="append",
        default=[],
        metavar="LOGIN",
        help="a person's login to create as a database role (repeatable)",
    )
    setup.add_argument("--admin", metavar="LOGIN", help="make this person an administrator")

    from tui.cli.messages import add_messages_parser

    add_messages_parser(commands)

    doctor = commands.add_parser("doctor", help="check the database and the secret store")
    doctor.add_argument("--json", action="store_true")
    return parser


# ---------------------------------------------------------------- helpers


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
    return s


def _report_problems(console: Console, problems: Sequence[Problem]) -> None:
    for problem in problems:
        label = "error" if problem.is_error else "warning"
        console.warn(f"{label}: {problem.field.replace('_', '-')}: {problem.message}")


def _read_stdin_lines(count: int) -> list[str]:
    lines = [line.rstrip("\r\n") for line in sys.stdin.read().splitlines()]
    if len(lines) < count or any(not line for line in lines[:count]):
        need = "two lines (incoming, then outgoing password)" if count == 2 else "one line"
        raise CommandFailed(f"Expected {need} on stdin")
    return lines[:count]


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
        "last_fetch": {
            "at": account.last_fetch_at.isoformat() if account.last_fetch_at else None,
            "status": account.last_fetch_status,
            "error": account.last_fetch_error or None,
            "new_messages": account.last_fetch_new,
        },
        "disabled": bool(account.disabled),
        "disabled_reason": account.disabled_reason or None,
        "messages": store.message_count(account),
    }
    return data


# ---------------------------------------------------------------- commands


class Cli:
    """Runs one parsed command against the database and secret store it is given."""

    def __init__(
        self,
        args: argparse.Namespace,
        console: Console,
        *,
        secret_store_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.args = args
        self.console = console
        self.url = resolve_database_url(args.database)
        self._secret_store_factory = secret_store_factory
        self._secret_store: Any = None

    @property
    def store(self) -> AccountStore:
        return AccountStore()

    def secret_store(self) -> Any:
        if self._secret_store is None:
            if self._secret_store_factory is not None:
                self._secret_store = self._secret_store_factory()
            else:
                from tui.core.secrets.setup import open_configured_store

                self._secret_store = open_configured_store(_ask_passphrase)
        return self._secret_store

    def run(self) -> int:
        command = self.args.command
        verb = getattr(self.args, "verb", None)
        name = f"cmd_{command}_{verb}" if verb else f"cmd_{command}"
        handler = getattr(self, name.replace("-", "_"))
        if name == "cmd_admin_setup-postgres":
            return int(handler())  # connects as the superuser itself, before any migration
        open_database(self.url)
        from tui.core.sharing.rules import SharingService

        SharingService().ensure_user()
        result: int = handler()
        return result

    # account ---------------------------------------------------------------

    def cmd_account_add(self) -> int:
        from tui.core.setup import providers, validation

        args = self.args
        settings = settings_from_args(args, AccountSettings(name=args.name))
        if not args.username and settings.email:
            settings.username = settings.email
        if settings.email and not args.no_preset and not args.incoming_host:
            preset = providers.lookup_known(settings.email)
            if preset is not None:
                settings, filled = providers.apply_preset(settings, preset)
                settings = settings_from_args(args, settings)  # explicit options win
                for line in filled:
                    self.console.warn(f"filled: {line}")
                if preset.note:
                    self.console.warn(f"note: {preset.note}")
        if settings.same_credentials_for_outgoing and not settings.outgoing_host:
            settings = providers.fill_outgoing_from_incoming(settings)
        problems = validation.validate_account(settings, existing_names=self.store.names())
        _report_problems(self.console, problems)
        if validation.has_errors(problems):
            raise CommandFailed("Account not added: fix the errors above")
        passwords: list[str] = []
        if args.password_stdin:
            passwords = _read_stdin_lines(1 if settings.same_credentials_for_outgoing else 2)
        account = self.store.create(settings, activate=True if args.activate else None)
        if passwords:
            from tui.core.secrets import SecretKind

            secrets = self.secret_store()
            secrets.set(account.secret_key, SecretKind.INCOMING, passwords[0], mailbox=account.name)
            if len(passwords) > 1:
                secrets.set(
                    account.secret_key, SecretKind.OUTGOING, passwords[1], mailbox=account.name
                )
        state = " (active)" if account.is_active else ""
        self.console.print(f"Added account {account.name!r}{state}")
        if not passwords:
            self.console.print(
                f"Set its password with: poptui password set {account.name!r} --incoming"
            )
        return EXIT_OK

    def cmd_account_list(self) -> int:
        store = self.store
        accounts = store.list()
        if self.args.json:
            self.console.json([account_summary(store, a) for a in accounts])
            return EXIT_OK
        if not accounts:
            self.console.print(
                "No accounts yet. Add one with: poptui account add NAME --email ADDRESS"
            )
            return EXIT_OK
        for account in accounts:
            marker = "*" if account.is_active else " "
            state = "disabled" if account.disabled else account.last_fetch_status
            self.console.print(
                f"{marker} {account.name}  <{account.email}>  "
                f"{account.incoming_host}:{account.incoming_port}  {state}"
            )
        self.console.print("(* = active mailbox)")
        return EXIT_OK

    def cmd_account_show(self) -> int:
        store = self.store
        data = account_summary(store, store.get(self.args.name))
        if self.args.json:
            self.console.json(data)
            return EXIT_OK
        for key, value in data.items():
            if isinstance(value, dict):
                inner = ", ".join(f"{k}={v}" for k, v in value.items())
                self.console.print(f"{key}: {inner}")
            else:
                self.console.print(f"{key}: {value}")
        return EXIT_OK

    def cmd_account_edit(self) -> int:
        from tui.core.setup import validation

        store = self.store
        account = store.get(self.args.name)
        settings = settings_from_args(self.args, settings_of(account))
        names = [n for n in store.names() if n != account.name]
        problems = validation.validate_account(settings, existing_names=names)
        _report_problems(self.console, problems)
        if validation.has_errors(problems):
            raise CommandFailed("Account not changed: fix the errors above")
        store.update(account.name, settings)
        self.console.print(f"Updated account {settings.name!r}")
        return EXIT_OK

    def cmd_account_remove(self) -> int:
        self.store.remove(self.args.name, keep_mail=self.args.keep_mail)
        kept = (
            "its fetched mail was kept" if self.args.keep_mail else "its fetched mail was deleted"
        )
        self.console.print(f"Removed account {self.args.name!r}; {kept}")
        return EXIT_OK

    def cmd_account_activate(self) -> int:
        account = self.store.activate(self.args.name)
        self.console.print(f"Active mailbox: {account.name}")
        return EXIT_OK

    # password ---------------------------------------------------------------

    def cmd_password_set(self) -> int:
        from tui.core.secrets import SecretKind

        account = self.store.get(self.args.name)
        settings = settings_of(account)
        kind = SecretKind.INCOMING if self.args.incoming else SecretKind.OUTGOING
        if kind is SecretKind.OUTGOING and settings.same_credentials_for_outgoing:
            raise CommandFailed(
                f"{account.name!r} uses the same credentials for the outgoing server; set the "
                "incoming password, or turn that off with: poptui account edit "
                f"{account.name!r} --separate-outgoing-credentials"
            )
        if self.args.stdin:
            password = _read_stdin_lines(1)[0]
        else:
            password = _prompt_twice(f"{kind.value.capitalize()} password for {account.name}: ")
        self.secret_store().set(account.secret_key, kind, password, mailbox=account.name)
        if self.store.enable_if_fixed(
            account.name, new_incoming_password=kind is SecretKind.INCOMING
        ):
            self.console.print(f"{account.name!r} was disabled; the new password enables it again")
        self.console.print(f"{kind.value.capitalize()} password for {account.name!r} saved")
        return EXIT_OK

    # secrets ---------------------------------------------------------------

    def cmd_secrets_show(self) -> int:
        from tui.core.secrets.setup import saved_store_choice

        choice = saved_store_choice()
        if choice is None:
            self.console.print("No choice saved: the system keyring is used when it works.")
            self.console.print("Check it with: poptui doctor")
        else:
            self.console.print(self.secret_store().describe())
        return EXIT_OK

    def cmd_secrets_use(self) -> int:
        from tui.core.secrets import SecretKind, StoreChoice, probe_keyring
        from tui.core.secrets.setup import save_store_choice, saved_store_choice

        kind = self.args.store_kind
        if kind == "keyring":
            health = probe_keyring()
            if not health.usable:
                raise CommandFailed(health.advice)
            choice = StoreChoice("keyring")
        elif kind == "file":
            choice = StoreChoice("cryptfile", path=self.args.path)
        else:
            account = self.store.get(self.args.name)
            which = SecretKind.INCOMING if self.args.incoming else SecretKind.OUTGOING
            current = saved_store_choice()
            base = current if current is not None and current.kind == "command" else StoreChoice()
            choice = base.with_command(account.secret_key, which, self.args.command_line)
        self._secret_store = None
        self._check_store_opens(choice)
        save_store_choice(choice)
        self.console.print(f"Passwords now kept in: {self.secret_store().describe()}")
        return EXIT_OK

    def _check_store_opens(self, choice: Any) -> None:
        from tui.core.secrets import open_store
        from tui.core.secrets.setup import passphrase_from_environment

        env = passphrase_from_environment()
        self._secret_store = open_store(choice, (lambda: env) if env else _ask_passphrase)

    # fetch ---------------------------------------------------------------

    def cmd_fetch(self) -> int:
        from tui.cli.fetch import run_fetch_command

        return run_fetch_command(self.args, self.console, self.store, self.secret_store)

    def cmd_messages_list(self) -> int:
        from tui.cli.messages import list_messages

        return list_messages(self.args, self.console)

    # sharing ---------------------------------------------------------------

    def _sharing_view(self, account: Account) -> dict[str, Any]:
        from tui.core.sharing.rules import SharingService

        service = SharingService()
        effective = service.effective(account)
        policy = effective.policy
        return {
            "account": account.name,
            "owner": account.owner,
            "permission": effective.permission.value,
            "excluded_domains": list(effective.excluded_domains),
            "shared_with": list(effective.shared_with),
            "policy": {
                "mode": policy.mode.value,
                "permission": policy.permission.value if policy.permission else None,
                "locked": policy.locked,
                "source": policy.source,
            },
            "user_may_choose": policy.user_may_choose,
            "why_not": policy.why_not_choose() or None,
            "who_can_see": service.viewers_in_words(effective),
        }

    def cmd_sharing_show(self) -> int:
        view = self._sharing_view(self.store.get(self.args.name))
        if self.args.json:
            self.console.json(view)
            return EXIT_OK
        self.console.print(f"{view['account']}: {view['permission']}")
        self.console.print(f"Who can see its mail: {view['who_can_see']}")
        choice = "you may choose" if view["user_may_choose"] else view["why_not"]
        self.console.print(f"Policy: {view['policy']['source']}; {choice}")
        return EXIT_OK

    def cmd_sharing_set(self) -> int:
        from tui.core.sharing.rules import SharingService

        account = self.store.get(self.args.name)
        effective = SharingService().set_account_permission(
            account,
            SharingPermission(self.args.permission),
            shared_with=self.args.shared_with,
            excluded_domains=self.args.exclude_domain,
        )
        self.console.print(f"{account.name}: {effective.permission.value}")
        return EXIT_OK

    # admin ---------------------------------------------------------------

    def cmd_admin_grant(self) -> int:
        from tui.core.sharing.rules import SharingService

        SharingService().grant_admin(self.args.user)
        self.console.print(f"{self.args.user} is now an administrator")
        return EXIT_OK

    def cmd_admin_revoke(self) -> int:
        from tui.core.sharing.rules import SharingService

        SharingService().revoke_admin(self.args.user)
        self.console.print(f"{self.args.user} is no longer an administrator")
        return EXIT_OK

    def cmd_admin_users(self) -> int:
        from tui.core.sharing.rules import SharingService

        rows = [{"name": u.name, "admin": bool(u.is_admin)} for u in SharingService().users()]
        if self.args.json:
            self.console.json(rows)
        else:
            for row in rows:
                self.console.print(f"{row['name']}{'  (administrator)' if row['admin'] else ''}")
        return EXIT_OK

    def cmd_admin_audit(self) -> int:
        from tui.core.sharing.rules import SharingService

        rows = [
            {
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
            }
            for e in SharingService().audit_log()
        ]
        if self.args.json:
            self.console.json(rows)
        else:
            for r in rows:
                self.console.print(
                    f"{r['at']:%Y-%m-%d %H:%M} {r['actor']} {r['action']} {r['target']} "
                    f"{r['detail']}"
                )
        return EXIT_OK

    def cmd_admin_policy(self) -> int:
        from tui.core.sharing.rules import DEFAULT_POLICY, PolicyMode, SharingService

        service = SharingService()
        args = self.args
        if args.policy_verb == "show":
            rows: list[dict[str, Any]] = [
                {
                    "scope": f"{p.scope_kind}:{p.scope}",
                    "mode": p.mode,
                    "permission": p.permission,
                    "locked": bool(p.locked),
                    "excluded_domains": p.excluded_domains.split(),
                    "updated_by": p.updated_by,
                    "updated_at": p.updated_at,
                }
                for p in service.policies()
            ]
            if args.json:
                self.console.json(rows)
                return EXIT_OK
            for r in rows:
                what = r["permission"] if r["mode"] == "fixed" else "user's choice"
                lock = ", locked" if r["locked"] else ""
                domains = (
                    f", except {' '.join(r['excluded_domains'])}" if r["excluded_domains"] else ""
                )
                self.console.print(f"{r['scope']}: {what}{lock}{domains}")
            self.console.print(f"everyone else: {DEFAULT_POLICY.source}")
            return EXIT_OK
        scope_kind, scope = ("user", args.user) if args.user else ("role", args.role)
        if args.policy_verb == "clear":
            service.clear_policy(scope_kind=scope_kind, scope=scope)
            self.console.print(f"Policy for {scope_kind} {scope} cleared")
            return EXIT_OK
        service.set_policy(
            scope_kind=scope_kind,
            scope=scope,
            mode=PolicyMode.USERS_CHOICE if args.users_choice else PolicyMode.FIXED,
            permission=SharingPermission(args.permission) if args.permission else None,
            locked=args.lock,
            excluded_domains=args.exclude_domain,
        )
        self.console.print(f"Policy for {scope_kind} {scope} set")
        return EXIT_OK

    def cmd_admin_setup_postgres(self) -> int:
        from tui.core.sharing.postgres_rls import setup_team_database

        for line in setup_team_database(self.url, self.args.team_users, admin=self.args.admin):
            self.console.print(line)
        return EXIT_OK

    # doctor ---------------------------------------------------------------

    def cmd_doctor(self) -> int:
        from tui.core.setup.doctor import run_checks

        report = run_checks(self.url)
        if self.args.json:
            self.console.json([check.as_dict() for check in report])
        else:
            for check in report:
                self.console.print(f"[{check.status:^5}] {check.title}: {check.detail}")
                if check.advice:
                    for line in check.advice.splitlines():
                        self.console.print(f"        {line}")
        return EXIT_FAILURE if any(check.status == "fail" for check in report) else EXIT_OK


def _ask_passphrase() -> str:
    import getpass

    if not sys.stdin.isatty():
        raise CommandFailed(
            "The encrypted password file needs its passphrase: no terminal to ask it on. "
            "Set POPTUI_SECRETS_PASSPHRASE for scripts and timers."
        )
    return getpass.getpass("Passphrase of poptui's encrypted password file: ")


def _prompt_twice(prompt: str) -> str:
    import getpass

    if not sys.stdin.isatty():
        raise CommandFailed("No terminal to ask for the password: pass it with --stdin")
    first = getpass.getpass(prompt)
    if not first:
        raise CommandFailed("Empty password: nothing saved")
    if getpass.getpass("Again: ") != first:
        raise CommandFailed("The two passwords differ: nothing saved")
    return first


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    console = console or Console()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from tui.app import run_app

        return int(run_app(database_url=args.database))
    try:
        return Cli(args, console).run()
    except (
        CommandFailed,
        AccountError,
        DatabaseError,
        SecretStoreError,
        SharingError,
        TeamSetupError,
    ) as error:
        console.warn(f"poptui: {error}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        console.warn("poptui: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

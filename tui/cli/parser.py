"""The command line's grammar: every verb and option of `poptui`, built with argparse.

Only the grammar lives here; what each verb does is in its own module (accounts, fetch, ...).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from tui import __version__
from tui.core.settings import DeletePolicy, Security, SharingPermission

DEFAULT_MESSAGE_LIMIT = 50
"""`poptui messages list` shows the newest 50 unless told otherwise."""

if TYPE_CHECKING:
    # argparse's type for what `add_subparsers` returns is private; named once here.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


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
    _add_oauth_options(parser, for_edit=for_edit)
    parser.add_argument(
        "--deliver-to",
        action="append",
        default=[],
        metavar="TARGET",
        help="also deliver new mail to maildir:PATH, mbox:PATH, mda:'COMMAND' or "
        "lmtp:[RCPT@]SOCKET-or-HOST:PORT (repeatable)",
    )
    if for_edit:
        parser.add_argument(
            "--no-deliver-to",
            action="append",
            default=[],
            metavar="TARGET",
            help="stop delivering to TARGET (as shown by account show; 'all' for every one)",
        )
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


def _add_oauth_options(parser: argparse.ArgumentParser, *, for_edit: bool) -> None:
    """OAuth2 sign-in instead of a password (Microsoft 365 / Outlook.com, Gmail, any provider)."""
    how = parser.add_mutually_exclusive_group()
    how.add_argument(
        "--oauth2",
        action="store_true",
        default=None,
        help="sign in with OAuth2 (then: poptui account signin NAME) instead of a password",
    )
    if for_edit:
        how.add_argument(
            "--password-login", action="store_true", default=None, help="log in with a password"
        )
    parser.add_argument(
        "--provider",
        choices=["microsoft", "gmail", "generic"],
        help="OAuth2 endpoints and scope (default: from the incoming server)",
    )
    parser.add_argument(
        "--client-id", help="your app registration's client id (poptui ships none; README)"
    )
    parser.add_argument(
        "--client-secret",
        help="only for clients that have one (Google's Desktop-app clients); kept in the "
        "secret store",
    )
    parser.add_argument(
        "--tenant",
        help="Microsoft: common (default), organizations, consumers, a tenant id or domain",
    )
    parser.add_argument("--authorize-url", help="generic: the authorization endpoint")
    parser.add_argument("--token-url", help="generic: the token endpoint")
    parser.add_argument("--device-url", help="generic: the device authorization endpoint")
    parser.add_argument("--scope", help="the scopes to ask for (default: the provider's)")
    parser.add_argument(
        "--token-command",
        metavar="COMMAND",
        help="a program printing an access token, used instead of signing in",
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The grammar of `poptui`. Given the `argv` it will parse, the options and verbs of every
    command but the one it runs are left out (each is still listed by `poptui --help`):
    building them all is a tenth of a "nothing new" fetch from cron."""
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
    parser.add_argument(
        "--passphrase-fd",
        metavar="N",
        type=int,
        help="read the encrypted password file's passphrase from file descriptor N "
        "(as $POPTUI_SECRETS_PASSPHRASE_FD)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = _command_in(argv) if argv is not None else None
    if wanted is not None:
        commands = cast("Commands", _OnlyCommand(commands, wanted))
    _add_account_verbs(commands)
    _add_password_verbs(commands)
    _add_secrets_verbs(commands)
    _add_fetch(commands)
    _add_sharing_verbs(commands)
    _add_admin_verbs(commands)
    _add_messages_verbs(commands)
    _add_import(commands)
    _add_export(commands)
    if wanted in (None, "service"):
        from tui.cli.service import add_service_verbs

        add_service_verbs(commands, _add_fetch_tuning)
    else:  # listed by name, its module (and pathlib's) not loaded for another command
        commands.add_parser("service", help=SERVICE_HELP)
    doctor = commands.add_parser("doctor", help="check the database and the secret store")
    doctor.add_argument("--json", action="store_true")
    doctor.add_argument(
        "--fix-permissions",
        action="store_true",
        help="make poptui's database and password files private (0600, folder 0700)",
    )
    return parser


SERVICE_HELP = "fetch every mailbox in the background"
"""`poptui service`'s line in `poptui --help`: its grammar is `tui.cli.service`'s."""

_TAKES_VALUE = frozenset({"--database", "--passphrase-fd"})
"""The top-level options followed by a value (so the value is not taken for a command)."""


def _command_in(argv: Sequence[str]) -> str | None:
    """The command `argv` names (its first word that is neither an option nor an option's
    value), or None when there is none yet."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


class _OnlyCommand:
    """Stands in for `add_subparsers()`'s result: the command `wanted` is built as usual, the
    others are registered (name and help) and their grammar goes to `_Discarded`."""

    def __init__(self, commands: Commands, wanted: str) -> None:
        self._commands = commands
        self._wanted = wanted

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._wanted:
            return self._commands.add_parser(name, **kwargs)
        self._commands.add_parser(name, help=kwargs.get("help"), add_help=False)
        return cast(argparse.ArgumentParser, _Discarded())


class _Discarded:
    """Takes any grammar call (add_argument, add_subparsers, add_parser, groups) and keeps
    nothing: the grammar of a command this run does not parse."""

    def __getattr__(self, _name: str) -> Callable[..., _Discarded]:
        return self._take

    def _take(self, *_args: Any, **_kwargs: Any) -> _Discarded:
        return self


def _verb_group(commands: Commands, name: str, help_text: str) -> Commands:
    """`poptui NAME VERB ...`: a command whose verb is required, found in `args.verb`."""
    command = commands.add_parser(name, help=help_text)
    return command.add_subparsers(dest="verb", metavar="VERB", required=True)


def _add_password_kind(parser: argparse.ArgumentParser) -> None:
    """ACCOUNT and exactly one of --incoming / --outgoing: which of its passwords."""
    parser.add_argument("name", metavar="ACCOUNT")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--incoming", action="store_true")
    which.add_argument("--outgoing", action="store_true")


def _add_account_verbs(commands: Commands) -> None:
    verbs = _verb_group(
        commands, "account", "add, list, show, edit, remove, activate, signin, client-id"
    )
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
    signin = verbs.add_parser("signin", help="sign an OAuth2 account in (works over SSH)")
    signin.add_argument("name")
    signin.add_argument(
        "--browser",
        action="store_true",
        help="use the browser sign-in (paste back the address) even where a device code works",
    )
    client = verbs.add_parser(
        "client-id", help="the OAuth2 client id for accounts that set none of their own"
    )
    client.add_argument("client_id", metavar="CLIENT_ID")
    client.add_argument("--provider", choices=["microsoft", "gmail", "generic"])


def _add_password_verbs(commands: Commands) -> None:
    verbs = _verb_group(commands, "password", "set an account's passwords")
    pset = verbs.add_parser("set", help="set the incoming or the outgoing password")
    _add_password_kind(pset)
    pset.add_argument("--stdin", action="store_true", help="read the password from stdin")


def _add_secrets_verbs(commands: Commands) -> None:
    verbs = _verb_group(commands, "secrets", "choose where passwords are kept")
    verbs.add_parser("show", help="show the password store in use")
    use = verbs.add_parser("use", help="keyring | file | command")
    kinds = use.add_subparsers(dest="store_kind", metavar="STORE", required=True)
    kinds.add_parser("keyring", help="the system keyring (needs a working Secret Service)")
    use_file = kinds.add_parser("file", help="an encrypted file, passphrase asked once")
    use_file.add_argument("--path", help="where the file lives (default: your data directory)")
    use_command = kinds.add_parser("command", help="a command printing the password")
    _add_password_kind(use_command)
    use_command.add_argument("command_line", metavar="COMMAND", help="e.g. 'pass show mail/work'")


def _add_fetch(commands: Commands) -> None:
    fetch = commands.add_parser("fetch", help="fetch new mail (the active mailbox by default)")
    target = fetch.add_mutually_exclusive_group()
    target.add_argument("--account", metavar="NAME", help="fetch this account")
    target.add_argument("--all", action="store_true", help="fetch every enabled account")
    target.add_argument(
        "--test", metavar="ACCOUNT", help="check settings without fetching (CAPA, TLS, login, STAT)"
    )
    fetch.add_argument("--quiet", action="store_true", help="print only errors")
    _add_fetch_tuning(fetch)


def _add_fetch_tuning(fetch: argparse.ArgumentParser) -> None:
    """How to fetch: shared by `poptui fetch` and `poptui service run`."""
    fetch.add_argument(
        "--jobs", type=_jobs, default=4, metavar="N", help="mailboxes fetched at once (default 4)"
    )
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
    fetch.add_argument(
        "--message-deadline",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="give up on a message after SECONDS plus its size at 256 KB/s (default 60)",
    )
    fetch.add_argument(
        "--session-deadline",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="end the fetch after SECONDS plus the new mail's size at 256 KB/s (default 1800)",
    )


def _jobs(text: str) -> int:
    """--jobs: how many mailboxes at once, 1 to 64."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 1 and 64: {text!r}")
    return value


def _seconds(text: str) -> float:
    """A deadline: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _add_sharing_verbs(commands: Commands) -> None:
    verbs = _verb_group(commands, "sharing", "who else may see a mailbox's mail")
    show = verbs.add_parser("show", help="the permission in force and who can see the mail")
    show.add_argument("name", metavar="ACCOUNT")
    show.add_argument("--json", action="store_true")
    choose = verbs.add_parser("set", help="choose the permission (where User's choice allows)")
    choose.add_argument("name", metavar="ACCOUNT")
    choose.add_argument("permission", choices=[p.value for p in SharingPermission])
    _add_user_names(choose, "--with", "shared_with", "USER", "with custom: a user to share with")
    choose.add_argument(
        "--exclude-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="with public: keep mail to/from this domain private (up to 5)",
    )


def _user_name(text: str) -> str:
    """A USER/LOGIN argument, refused at the command line (exit 2) when it cannot name a user."""
    from tui.core.errors import PoptuiError
    from tui.core.setup.validation import check_user_name

    try:
        return check_user_name(text)
    except PoptuiError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def _add_user_names(
    parser: argparse.ArgumentParser, flag: str, dest: str, metavar: str, help_text: str
) -> None:
    """A repeatable option naming users, each checked where it enters (`_user_name`)."""
    parser.add_argument(
        flag,
        dest=dest,
        action="append",
        type=_user_name,
        default=[],
        metavar=metavar,
        help=f"{help_text} (repeatable)",
    )


def _add_admin_verbs(commands: Commands) -> None:
    verbs = _verb_group(commands, "admin", "roles and sharing policies (administrators)")
    for verb, text in (("grant", "make USER an administrator"), ("revoke", "take the role back")):
        role = verbs.add_parser(verb, help=text)
        role.add_argument("user", metavar="USER", type=_user_name)
    users = verbs.add_parser("users", help="list users and their roles")
    users.add_argument("--json", action="store_true")
    audit = verbs.add_parser("audit", help="recent changes to roles and sharing")
    audit.add_argument("--json", action="store_true")
    policy = verbs.add_parser("policy", help="show | set | clear sharing policies")
    actions = policy.add_subparsers(dest="policy_verb", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="every policy, and the default")
    show.add_argument("--json", action="store_true")
    for verb in ("set", "clear"):
        action = actions.add_parser(verb, help=f"{verb} the policy of a user or a role")
        scope = action.add_mutually_exclusive_group(required=True)
        scope.add_argument("--user", metavar="USER", type=_user_name)
        scope.add_argument("--role", choices=["admin", "user"])
        if verb == "set":
            what = action.add_mutually_exclusive_group(required=True)
            what.add_argument(
                "--permission",
                choices=[p.value for p in SharingPermission],
                help="a fixed permission",
            )
            what.add_argument(
                "--users-choice", action="store_true", help="the owner picks (User's choice)"
            )
            action.add_argument(
                "--lock", action="store_true", help="the user cannot change their current choice"
            )
            action.add_argument("--exclude-domain", action="append", default=[], metavar="DOMAIN")
    setup = verbs.add_parser(
        "setup-postgres",
        help="prepare a team PostgreSQL database with row-level security (as a superuser)",
    )
    _add_user_names(
        setup, "--user", "team_users", "LOGIN", "a person's login to create as a database role"
    )
    setup.add_argument(
        "--admin", metavar="LOGIN", type=_user_name, help="make this person an administrator"
    )


def _add_messages_verbs(commands: Commands) -> None:
    verbs = _verb_group(commands, "messages", "list a mailbox's fetched mail (read-only)")
    listing = verbs.add_parser("list", help="newest first, as you may see them")
    listing.add_argument("name", metavar="ACCOUNT")
    listing.add_argument(
        "--owner", metavar="USER", help="a mailbox USER shares with you (default: your own)"
    )
    listing.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_MESSAGE_LIMIT,
        metavar="N",
        help=f"the newest N (default {DEFAULT_MESSAGE_LIMIT}; 0 for all)",
    )
    listing.add_argument("--json", action="store_true")


def _add_import(commands: Commands) -> None:
    take = commands.add_parser(
        "import",
        help="take over a fetchmail, getmail, mpop or "
        "Thunderbird setup and the mail it already fetched",
    )
    take.add_argument("peer", choices=["fetchmail", "getmail", "mpop", "thunderbird"])
    take.add_argument("path", nargs="?", metavar="PATH", help="default: where the program looks")
    take.add_argument(
        "--dry-run", action="store_true", help="show what would be created; change nothing"
    )


def _add_export(commands: Commands) -> None:
    export = commands.add_parser("export", help="copy a mailbox's mail to a Maildir or mbox")
    export.add_argument("name", metavar="ACCOUNT")
    where = export.add_mutually_exclusive_group(required=True)
    where.add_argument("--maildir", metavar="DIR", help="a Maildir (created if missing)")
    where.add_argument("--mbox", metavar="FILE", help="an mbox file (appended to, mboxrd)")
    export.add_argument(
        "--since", metavar="DATE", help="only mail dated DATE (YYYY-MM-DD) or later"
    )
    export.add_argument("--search", metavar="QUERY", help="only mail the message search finds")

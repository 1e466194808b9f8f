"""Thunderbird's POP3 accounts from a profile's `prefs.js`, and each one's `popstate.dat`.

`prefs.js` is `user_pref("key", value);` lines (string, integer or boolean values). A POP3
account is `mail.server.serverN.*` with `type` "pop3"; its messages and `popstate.dat` are in
its `directory` (absolute) or `directory-rel` ("[ProfD]Mail/HOST"). `popstate.dat`: two `#`
lines, then `*HOST USER` and `S UIDL [UNIXTIME]` lines, S = k (fetched, kept), d (fetched, to be
deleted), b (headers only), f (to fetch whole): only k and d were fetched whole.
Thunderbird keeps passwords encrypted in `logins.json`: they are not imported.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tui.core.imports.checks import check
from tui.core.imports.files import read_peer_file, read_state_file, shown, valid_uidl
from tui.core.imports.found import ConfigSyntaxError, FoundAccount, ImportPlan, Peer
from tui.core.settings import (
    DEFAULT_POP3_PORTS,
    DEFAULT_SMTP_PORTS,
    AccountSettings,
    DeletePolicy,
    Security,
)
from tui.core.text import one_line

_PREF = re.compile(r'^\s*user_pref\(\s*("(?:[^"\\]|\\.)*")\s*,\s*(.*?)\s*\)\s*;\s*$')
SOCKET_TYPES = {0: Security.NONE, 1: Security.STARTTLS, 2: Security.STARTTLS, 3: Security.SSL}
FETCHED = {"k", "d"}
OAUTH2 = 10


def parse_prefs(text: str, where: str) -> dict[str, object]:
    """Every `user_pref` of prefs.js; a line that starts one but does not parse is an error."""
    prefs: dict[str, object] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("user_pref"):
            continue
        match = _PREF.match(stripped)
        try:
            if match is None:
                raise ValueError
            key = json.loads(match.group(1))
            value = json.loads(match.group(2))
        except ValueError:
            raise ConfigSyntaxError(
                where,
                number,
                'expected user_pref("name", value); with a string, number or true/false value',
            ) from None
        if isinstance(value, str | int | bool):
            prefs[str(key)] = value
    return prefs


def _str(prefs: dict[str, object], key: str, default: str = "") -> str:
    value = prefs.get(key, default)
    return value if isinstance(value, str) else default


def _int(prefs: dict[str, object], key: str, default: int) -> int:
    value = prefs.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _bool(prefs: dict[str, object], key: str, default: bool) -> bool:
    value = prefs.get(key, default)
    return value if isinstance(value, bool) else default


def _servers_and_identities(prefs: dict[str, object]) -> dict[str, str]:
    """serverN → the account's first identity idM (for its address and outgoing server)."""
    found = {}
    for account in _str(prefs, "mail.accountmanager.accounts").split(","):
        account = account.strip()
        server = _str(prefs, f"mail.account.{account}.server")
        identity = _str(prefs, f"mail.account.{account}.identities").split(",")[0].strip()
        if server:
            found[server] = identity
    return found


def _outgoing(prefs: dict[str, object], identity: str, account: FoundAccount) -> None:
    s = account.settings
    s.email = _str(prefs, f"mail.identity.{identity}.useremail")
    smtp = _str(prefs, f"mail.identity.{identity}.smtpServer") or _str(
        prefs, "mail.smtp.defaultserver"
    )
    host = _str(prefs, f"mail.smtpserver.{smtp}.hostname")
    if not smtp or not host:
        return
    security = SOCKET_TYPES.get(_int(prefs, f"mail.smtpserver.{smtp}.try_ssl", 0), Security.NONE)
    port = _int(prefs, f"mail.smtpserver.{smtp}.port", 0)
    s.outgoing_host, s.outgoing_security = host, security
    s.outgoing_port = port if port > 0 else DEFAULT_SMTP_PORTS[security]
    user = _str(prefs, f"mail.smtpserver.{smtp}.username")
    if user and user != s.username:
        s.same_credentials_for_outgoing, s.outgoing_username = False, user


def _policy(prefs: dict[str, object], base: str, account: FoundAccount) -> None:
    s = account.settings
    if not _bool(prefs, f"{base}.leave_on_server", False):
        s.delete_policy, account.peer_kept = DeletePolicy.AFTER_FETCH, False
    elif _bool(prefs, f"{base}.delete_by_age_from_server", False):
        s.delete_policy = DeletePolicy.AFTER_DAYS
        s.delete_after_days = max(1, _int(prefs, f"{base}.num_days_to_leave_on_server", 7))
    elif _bool(prefs, f"{base}.delete_mail_left_on_server", False):
        s.delete_policy = DeletePolicy.WHEN_DELETED_HERE


def _account(prefs: dict[str, object], server: str, identity: str, where: str) -> FoundAccount:
    base = f"mail.server.{server}"
    account = FoundAccount(Peer.THUNDERBIRD, f"{where} ({server})", AccountSettings())
    s = account.settings
    s.name = _str(prefs, f"{base}.name")
    s.incoming_host = _str(prefs, f"{base}.hostname")
    s.username = _str(prefs, f"{base}.userName")
    socket_type = _int(prefs, f"{base}.socketType", 0)
    s.incoming_security = SOCKET_TYPES.get(socket_type, Security.SSL)
    if socket_type == 0:
        account.warnings.append(
            "connection security None: Thunderbird spoke clear text, and so will poptui (the "
            "password crosses the network); choose STARTTLS or SSL/TLS if the server offers it"
        )
    elif socket_type == 1:
        account.mapped.append("STARTTLS if available (old setting): poptui requires STARTTLS")
    port = _int(prefs, f"{base}.port", -1)
    s.incoming_port = port if port > 0 else DEFAULT_POP3_PORTS[s.incoming_security]
    if _int(prefs, f"{base}.authMethod", 3) == OAUTH2:
        account.unmapped.append("OAuth2 sign-in: not imported; poptui signs in with a password")
    account.unmapped.append(
        "password: Thunderbird keeps it encrypted (logins.json); set it in poptui"
    )
    if _str(prefs, f"{base}.deferred_to_account"):
        account.unmapped.append("Global Inbox (deferred to another account): poptui keeps it apart")
    if _bool(prefs, f"{base}.limit_offline_message_size", False):
        account.unmapped.append("message size limit for offline use: not a fetch limit")
    _policy(prefs, base, account)
    if identity:
        _outgoing(prefs, identity, account)
    return account


def mail_directory(prefs: dict[str, object], server: str, profile: Path) -> Path | None:
    rel = _str(prefs, f"mail.server.{server}.directory-rel")
    if rel.startswith("[ProfD]"):
        return profile / rel.removeprefix("[ProfD]")
    absolute = _str(prefs, f"mail.server.{server}.directory")
    return Path(absolute) if absolute else None


def read_popstate(text: str, host: str, user: str) -> tuple[list[str], int]:
    """UIDLs fetched whole (k, d) for HOST and USER, and how many were only partly fetched."""
    uidls: list[str] = []
    partial = 0
    mine = False
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("*"):
            parts = line[1:].split(" ", 1)
            mine = len(parts) == 2 and parts[0] == host and parts[1].strip() == user
            continue
        fields = line.split()
        if not mine or len(fields) < 2 or not valid_uidl(fields[1]):
            continue
        if fields[0] in FETCHED:
            uidls.append(fields[1])
        else:
            partial += 1
    return uidls, partial


def profiles(base: Path | None = None) -> list[Path]:
    """prefs.js of each Thunderbird profile under ~/.thunderbird."""
    root = base or Path.home() / ".thunderbird"
    return sorted(root.glob("*/prefs.js")) if root.is_dir() else []


def plan(path: Path) -> ImportPlan:
    """What importing this profile (its directory or its prefs.js) would create."""
    prefs_path = path / "prefs.js" if path.is_dir() else path
    profile = prefs_path.parent
    where = shown(prefs_path)
    prefs = parse_prefs(read_peer_file(prefs_path, what="Thunderbird prefs.js").text, where)
    result = ImportPlan(Peer.THUNDERBIRD, [where])
    for server, identity in _servers_and_identities(prefs).items():
        if _str(prefs, f"mail.server.{server}.type") != "pop3":
            continue
        account = _account(prefs, server, identity, where)
        s = account.settings
        directory = mail_directory(prefs, server, profile)
        state = (
            read_state_file(directory / "popstate.dat", what="popstate.dat") if directory else None
        )
        if state is not None and directory is not None:
            account.uidls, partial = read_popstate(state.text, s.incoming_host, s.username)
            account.state_file = shown(directory / "popstate.dat")
            result.files.append(account.state_file)
            if partial:
                account.mapped.append(
                    f"{partial} messages Thunderbird fetched only in part: "
                    "poptui fetches them whole"
                )
        else:
            result.warnings.append(
                f"No popstate.dat for {one_line(s.incoming_host, 60)}: "
                "every message on it counts as new"
            )
        check(account)
        result.accounts.append(account)
    return result

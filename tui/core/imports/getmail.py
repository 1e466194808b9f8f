"""getmail6's rc files (INI: [retriever], [destination], [options]) and its `oldmail-*` state.

The getmail directory is `$XDG_CONFIG_HOME/getmail/` when it exists, else `~/.getmail/`; its
rc files are `getmailrc`, else every file but `oldmail-*`, `*.json` and dotfiles. The state of
a POP3 retriever is `oldmail-SERVER-PORT-USERNAME` beside them (runs of `/\\:;<>|` become `-`),
one `UIDL\\0UNIXTIME` line per message seen on the server (getmail writes `/` in a UIDL as `-`).
"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
from pathlib import Path

from tui.core.imports import deliveries
from tui.core.imports.checks import check, sha256_pin
from tui.core.imports.files import read_peer_file, read_state_file, shown, valid_uidl
from tui.core.imports.found import ConfigSyntaxError, FoundAccount, ImportPlan, Peer
from tui.core.imports.oauth_hint import token_command_suggestion
from tui.core.settings import DEFAULT_POP3_PORTS, AccountSettings, DeletePolicy, Security
from tui.core.text import one_line

RETRIEVERS = {
    "simplepop3retriever": Security.NONE,
    "simplepop3sslretriever": Security.SSL,
    "brokenuidlpop3retriever": Security.NONE,
    "brokenuidlpop3sslretriever": Security.SSL,
}
_STRIP = re.compile(r"[/\\:;<>|]+")


def rc_files(directory: Path) -> list[Path]:
    """The rc files getmail would read in `directory` when given none."""
    default = directory / "getmailrc"
    if default.is_file():
        return [default]
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith((".", "oldmail-")) and not p.name.endswith(".json")
    )


class _Where(str):
    """A file name that also finds the line of a key in its text, for worded errors."""

    text: str = ""

    def line(self, key: str) -> int:
        for number, line in enumerate(self.text.splitlines(), 1):
            if line.strip().lower().startswith(key):
                return number
        return 1


def _at(where: str, text: str) -> _Where:
    found = _Where(where)
    found.text = text
    return found


def _boolean(value: str, where: str, key: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    line = where.line(key) if isinstance(where, _Where) else 1
    raise ConfigSyntaxError(where, line, f"{key} = {one_line(value, 20)!r} is not true or false")


def _number(value: str, where: str, key: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        line = where.line(key) if isinstance(where, _Where) else 1
        raise ConfigSyntaxError(
            where, line, f"{key} = {one_line(value, 20)!r} is not a number"
        ) from None


def _strings(value: str) -> list[str]:
    """A getmail tuple of strings, `("a", "b")`, or one bare string; never evaluated as code."""
    try:
        parsed = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        return [value.strip()]
    if isinstance(parsed, str):
        return [parsed]
    if isinstance(parsed, tuple | list):
        return [str(item) for item in parsed]
    return [value.strip()]


def _line_of(text: str, section: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().lower() == f"[{section}]":
            return number
    return 1


def _parse(text: str, where: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text, source=where)
    except configparser.MissingSectionHeaderError as error:
        raise ConfigSyntaxError(
            where, error.lineno, "a setting before the first [section]"
        ) from None
    except configparser.ParsingError as error:
        line = error.errors[0][0] if error.errors else 1
        raise ConfigSyntaxError(
            where, line, "a line that is neither [section] nor key = value"
        ) from None
    except configparser.Error as error:
        raise ConfigSyntaxError(where, 1, one_line(str(error), 120)) from None
    if not parser.has_section("retriever"):
        raise ConfigSyntaxError(where, 1, "no [retriever] section: not a getmail rc file")
    return parser


def _options(parser: configparser.RawConfigParser, account: FoundAccount, where: str) -> None:
    s = account.settings
    get = parser.get
    has = parser.has_option
    delete = has("options", "delete") and _boolean(get("options", "delete"), where, "delete")
    days = (
        _number(get("options", "delete_after"), where, "delete_after")
        if has("options", "delete_after")
        else 0
    )
    if delete:
        s.delete_policy = DeletePolicy.AFTER_FETCH
    elif days > 0:
        s.delete_policy, s.delete_after_days = DeletePolicy.AFTER_DAYS, days
    account.peer_kept = not delete
    if has("options", "max_messages_per_session"):
        s.max_messages_per_fetch = max(
            0,
            _number(get("options", "max_messages_per_session"), where, "max_messages_per_session"),
        )
    if has("options", "max_message_size"):
        s.max_message_bytes = max(
            0, _number(get("options", "max_message_size"), where, "max_message_size")
        )
    read_all = not has("options", "read_all") or _boolean(
        get("options", "read_all"), where, "read_all"
    )
    if read_all and not delete:
        account.unmapped.append(
            "read_all (getmail's default): getmail fetched every message again each time; "
            "poptui fetches each message once"
        )
    if has("options", "delete_bigger_than"):
        account.unmapped.append("delete_bigger_than: poptui leaves large messages on the server")


def _destination(parser: configparser.RawConfigParser, account: FoundAccount) -> None:
    if not parser.has_section("destination"):
        return
    get = parser.get
    kind = get("destination", "type", fallback="").strip()
    path = get("destination", "path", fallback="").strip()
    words = f"destination {one_line(kind, 30)} {one_line(path, 100)!r}"
    if kind == "Maildir" and path:
        deliveries.add(account, f"maildir:{path}", words)
    elif kind in ("Mboxrd", "Mbox") and path:
        deliveries.add(account, f"mbox:{path}", words)
    elif kind == "MDA_external" and path:
        arguments = _strings(get("destination", "arguments", fallback="()"))
        if any("%(" in argument for argument in arguments):
            deliveries.unmapped(
                account,
                words,
                "its arguments use getmail's %(sender)/"
                "%(recipient) placeholders, which poptui does not fill in; add one yourself",
            )
        else:
            deliveries.add(account, "mda:" + shlex.join([path, *arguments]), words)
    elif kind == "MDA_lmtp":
        host = get("destination", "host", fallback="").strip()
        port = get("destination", "port", fallback="").strip()
        address = host if host.startswith("/") else f"{host}:{port or 24}"
        deliveries.add(account, f"lmtp:{address}", f"destination MDA_lmtp {one_line(address, 80)}")
    else:
        deliveries.unmapped(
            account, words, "no delivery target like it in poptui; add one yourself"
        )


def _account(parser: configparser.RawConfigParser, rc: Path, text: str, where: str) -> FoundAccount:
    line = _line_of(text, "retriever")
    account = FoundAccount(Peer.GETMAIL, f"{where}:{line}", AccountSettings())
    s = account.settings
    get = parser.get
    kind = get("retriever", "type", fallback="").strip()
    security = RETRIEVERS.get(kind.lower())
    if security is None:
        account.not_imported = (
            f"retriever type {one_line(kind, 40) or '(none)'}: not a POP3 mailbox poptui can fetch"
        )
        security = Security.SSL
    elif kind.lower().startswith("brokenuidl"):
        account.unmapped.append(f"{kind}: the server has no usable UIDL; getmail kept no state")
    s.incoming_security = security
    s.incoming_host = get("retriever", "server", fallback="")
    s.username = get("retriever", "username", fallback="")
    s.email = s.username if "@" in s.username else ""
    s.name = rc.name.removeprefix("getmailrc").lstrip("-_.") or s.username
    port = get("retriever", "port", fallback="")
    s.incoming_port = _number(port, where, "port") if port else DEFAULT_POP3_PORTS[security]
    if security is Security.NONE:
        account.warnings.append(
            f"{kind}: getmail spoke clear text, and so will poptui (the password crosses the "
            "network); choose STARTTLS or SSL/TLS if the server offers it"
        )
    if parser.has_option("retriever", "password"):
        account.password = get("retriever", "password")
    xoauth2 = get("retriever", "use_xoauth2", fallback="").strip().lower()
    oauth2 = xoauth2 in ("1", "true", "yes", "on")
    command = ""
    if parser.has_option("retriever", "password_command"):
        command = " ".join(_strings(get("retriever", "password_command")))
    if oauth2:
        account.unmapped.append(token_command_suggestion("use_xoauth2", s.name, command))
    elif command:
        account.unmapped.append(
            f"password_command {one_line(command, 80)!r}: not run; "
            "use `poptui secrets use command` or enter the password"
        )
    prints = _strings(get("retriever", "ssl_fingerprints", fallback="()"))
    pins = [pin for pin in map(sha256_pin, prints) if pin]
    if pins:
        s.pinned_fingerprint = pins[0]
        account.mapped.append("ssl_fingerprints: the first one is pinned")
        if len(pins) > 1:
            account.unmapped.append(
                "ssl_fingerprints: poptui pins one certificate; the first is kept"
            )
    if parser.has_option("retriever", "ca_certs"):
        ca = one_line(get("retriever", "ca_certs"), 80)
        account.unmapped.append(f"ca_certs {ca!r}: pass it to `poptui fetch --ca-file`")
    if parser.has_section("options"):
        _options(parser, account, where)
    else:
        account.unmapped.append(
            "read_all (getmail's default): getmail fetched every message again each time; "
            "poptui fetches each message once"
        )
    _destination(parser, account)
    return account


def oldmail_name(server: str, port: int, username: str) -> str:
    return _STRIP.sub("-", f"oldmail-{server}-{port}-{username}")


def read_oldmail(text: str) -> list[str]:
    """The UIDLs of an oldmail file; `-` may have been `/` (getmail rewrites it), so such a
    UIDL is also filed with every `-` as `/`."""
    uidls: list[str] = []
    for line in text.splitlines():
        uidl, sep, stamp = line.strip().partition("\0")
        if not sep or not stamp.strip().isdigit() or not valid_uidl(uidl):
            continue
        uidls.append(uidl)
        if "-" in uidl:
            uidls.append(uidl.replace("-", "/"))
    return uidls


def plan(path: Path) -> ImportPlan:
    """What importing this getmail directory (or one rc file in it) would create."""
    rcs = rc_files(path) if path.is_dir() else [path]
    directory = path if path.is_dir() else path.parent
    result = ImportPlan(Peer.GETMAIL)
    for rc in rcs:
        rc_file = read_peer_file(rc, what="getmail rc file")
        where = shown(rc)
        result.files.append(where)
        parser = _parse(rc_file.text, where)
        account = _account(parser, rc, rc_file.text, _at(where, rc_file.text))
        if account.password is not None:
            account.password_file = where
            if (warning := rc_file.password_warning()) and warning not in result.warnings:
                result.warnings.append(warning)
        s = account.settings
        state = directory / oldmail_name(s.incoming_host, s.incoming_port, s.username)
        if not account.not_imported:
            oldmail = read_state_file(state, what="getmail state file")
            if oldmail is not None:
                account.uidls = read_oldmail(oldmail.text)
                account.state_file = shown(state)
                result.files.append(account.state_file)
            else:
                host = one_line(s.incoming_host, 60)
                result.warnings.append(
                    f"No getmail state at {shown(state)}: every message on {host} counts as new"
                )
        check(account)
        result.accounts.append(account)
    if not rcs:
        result.warnings.append(f"No getmail rc file in {shown(path)}")
    return result

"""fetchmail's `~/.fetchmailrc` and `~/.fetchids`, read as fetchmail reads them.

The grammar (fetchmail(1), "THE RUN CONTROL FILE"): `set` lines, a `defaults` entry, then `poll`
(or `skip`, or `server`) entries: a server name, server options, then user descriptions
(`user "remote" there with password "x" is "local" here`) each followed by user options.
`and with has wants options` and `: ; ,` are noise. Strings are quoted with " or '.
`.fetchids` holds one `REMOTEUSER@QUERYNAME UIDL` line per message fetchmail has seen and the
server still holds; QUERYNAME is the `via` host, else the entry's name.
"""

from __future__ import annotations

import getpass
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from tui.core.imports import deliveries
from tui.core.imports.checks import check
from tui.core.imports.files import read_peer_file, read_state_file, shown, valid_uidl
from tui.core.imports.found import ConfigSyntaxError, FoundAccount, ImportPlan, Peer
from tui.core.settings import DEFAULT_POP3_PORTS, AccountSettings, DeletePolicy, Security
from tui.core.text import one_line

NOISE = {"and", "with", "has", "wants", "options", "there"}
FLAGS = {
    "keep", "flush", "limitflush", "fetchall", "rewrite", "stripcr", "forcecr", "pass8bits",
    "dropstatus", "dropdelivered", "mimedecode", "idle", "ssl", "sslcertck", "uidl", "dns",
    "checkalias", "tracepolls", "lmtp", "envelope",
}  # fmt: skip
ONE_ARG = {
    "via", "proto", "protocol", "port", "service", "auth", "authenticate", "timeout",
    "qvirtual", "interface", "monitor", "plugin", "plugout", "interval", "principal",
    "esmtpname", "esmtppassword", "bad-header", "password", "pass", "sslcert", "sslcertfile",
    "sslcertpath", "sslfingerprint", "sslkey", "sslproto", "sslcommonname", "mda", "bsmtp",
    "preconnect", "postconnect", "limit", "warnings", "batchlimit", "fetchlimit",
    "fetchsizelimit", "fastuidl", "expunge", "smtpaddress", "smtpname", "properties",
}  # fmt: skip
LISTS = {"localdomains", "local", "aka", "folder", "smtphost", "fetchdomains", "antispam",
         "is", "to"}  # fmt: skip
NUMBERS = {"port", "timeout", "interval", "limit", "warnings", "batchlimit",
           "fetchlimit", "fetchsizelimit", "fastuidl", "expunge"}  # fmt: skip
SET_ARG = {"daemon", "logfile", "pidfile", "idfile", "postmaster", "properties"}
SET_FLAGS = {"bouncemail", "spambounce", "softbounce", "syslog", "invisible", "showdots"}
STARTS = {"poll", "skip", "server", "defaults", "set"}
KEYWORDS = NOISE | FLAGS | ONE_ARG | LISTS | STARTS | {"user", "username", "here", "no"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "\\": "\\", '"': '"', "'": "'"}


@dataclass
class Token:
    text: str
    line: int
    quoted: bool

    @property
    def word(self) -> str:
        """The keyword this token is, or "" for a quoted string (never a keyword)."""
        return "" if self.quoted else self.text.lower()


def tokenize(text: str, path: str) -> list[Token]:
    found: list[Token] = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace() or c in ":;,":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "\"'":
            start, i, chars = line, i + 1, []
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                    escape = text[i]
                    if escape == "x" and i + 2 < n:
                        chars.append(chr(int(text[i + 1 : i + 3], 16)))
                        i += 2
                    elif escape in "01234567":
                        digits = text[i : i + 3]
                        chars.append(chr(int(digits, 8)))
                        i += len(digits) - 1
                    else:
                        chars.append(_ESCAPES.get(escape, escape))
                else:
                    line += text[i] == "\n"
                    chars.append(text[i])
                i += 1
            if i >= n:
                raise ConfigSyntaxError(path, start, f"the string opened with {c} is not closed")
            found.append(Token("".join(chars), start, True))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in ":;,#\"'":
                i += 1
            found.append(Token(text[start:i], line, False))
    return found


@dataclass
class User:
    remote: str
    line: int
    options: dict[str, object] = field(default_factory=dict)


@dataclass
class Entry:
    kind: str
    name: str
    line: int
    options: dict[str, object] = field(default_factory=dict)
    users: list[User] = field(default_factory=list)


@dataclass
class Rc:
    entries: list[Entry] = field(default_factory=list)
    defaults: dict[str, object] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)


class _Parser:
    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens, self.path, self.i = tokens, path, 0

    def error(self, token: Token | None, what: str) -> ConfigSyntaxError:
        line = token.line if token else (self.tokens[-1].line if self.tokens else 1)
        return ConfigSyntaxError(self.path, line, what)

    def peek(self) -> Token | None:
        while self.i < len(self.tokens) and self.tokens[self.i].word in NOISE:
            self.i += 1
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, after: str) -> Token:
        token = self.peek()
        if token is None:
            raise self.error(None, f"{after} needs a value, and the file ends")
        self.i += 1
        return token

    def value(self, keyword: Token) -> str:
        token = self.take(keyword.text)
        if token.word in KEYWORDS - {"here"}:
            raise self.error(token, f"{keyword.text} needs a value, found the keyword {token.text}")
        if keyword.word in NUMBERS and not token.text.lstrip("-").isdigit():
            shown_value = one_line(token.text, 40)
            raise self.error(token, f"{keyword.text} needs a number, found {shown_value!r}")
        return token.text

    def parse(self) -> Rc:
        rc = Rc()
        while (token := self.peek()) is not None:
            self.i += 1
            if token.word == "set":
                self.parse_set(rc)
            elif token.word == "defaults":
                entry = Entry("defaults", "", token.line)
                self.parse_entry(entry)
                rc.defaults = entry.options
            elif token.word in ("poll", "skip", "server"):
                name = self.take(token.text)
                entry = Entry("skip" if token.word == "skip" else "poll", name.text, token.line)
                self.parse_entry(entry)
                rc.entries.append(entry)
            else:
                raise self.error(
                    token,
                    f"expected poll, skip, defaults or set, found {one_line(token.text, 40)!r}",
                )
        return rc

    def parse_set(self, rc: Rc) -> None:
        token = self.take("set")
        off = token.word == "no"
        if off:
            token = self.take("set no")
        if token.word in SET_ARG and not off:
            rc.settings[token.word] = self.value(token)
        elif token.word in SET_FLAGS:
            rc.settings[token.word] = not off
        else:
            raise self.error(token, f"set {one_line(token.text, 40)!r} is not a global option")

    def parse_entry(self, entry: Entry) -> None:
        target = entry.options
        while (token := self.peek()) is not None and token.word not in STARTS:
            self.i += 1
            word = token.word
            if word in ("user", "username"):
                user = User(self.value(token), token.line)
                entry.users.append(user)
                target = user.options
                if (nxt := self.peek()) is not None and nxt.word == "here":
                    self.i += 1  # `user LOCAL here is REMOTE there`: names the other way round
                    user.options["local_first"] = user.remote
            elif word == "here":
                continue
            elif word == "no":
                flag = self.take("no")
                if flag.word not in FLAGS:
                    raise self.error(flag, f"'no {one_line(flag.text, 40)}' is not an option")
                target[flag.word] = False
            elif word.startswith("no") and word[2:] in FLAGS:
                target[word[2:]] = False
            elif word in FLAGS:
                target[word] = True
                if word == "envelope":  # envelope [N] "header"
                    nxt = self.peek()
                    if nxt is not None and nxt.text.isdigit() and not nxt.quoted:
                        self.i += 1
                    target[word] = self.value(token)
            elif word in ONE_ARG:
                target["password" if word == "pass" else word] = self.value(token)
            elif word in LISTS:
                values: list[str] = []
                while (nxt := self.peek()) is not None and nxt.word not in KEYWORDS:
                    values.append(nxt.text)
                    self.i += 1
                if not values:
                    raise self.error(token, f"{token.text} needs at least one value")
                target["is" if word == "to" else word] = values
            else:
                raise self.error(token, f"unknown keyword {one_line(token.text, 40)!r}")


def parse_rc(text: str, path: str) -> Rc:
    """The rc file's entries; raises ConfigSyntaxError(file:line) where fetchmail would too."""
    return _Parser(tokenize(text, path), path).parse()


# ------------------------------------------------------------------ onto poptui's settings

SERVICES = {"pop3": 110, "pop3s": 995}


def _port(options: dict[str, object], security: Security, account: FoundAccount) -> int:
    raw = str(options.get("port") or options.get("service") or "")
    if not raw:
        return DEFAULT_POP3_PORTS[security]
    if raw.isdigit():
        return int(raw)
    if raw.lower() in SERVICES:
        return SERVICES[raw.lower()]
    account.unmapped.append(f"service {one_line(raw, 40)!r}: not a port; the default is used")
    return DEFAULT_POP3_PORTS[security]


def _security(options: dict[str, object], account: FoundAccount) -> Security:
    if options.get("ssl"):
        return Security.SSL
    proto = str(options.get("sslproto", "auto")).strip().lower()
    if proto == "":
        account.warnings.append(
            "sslproto '': fetchmail spoke clear text, and so will poptui (the password crosses "
            "the network); choose STARTTLS or SSL/TLS if the server offers it"
        )
        return Security.NONE
    account.mapped.append(
        "no ssl: fetchmail used STLS when the server offered it; poptui requires STARTTLS"
    )
    return Security.STARTTLS


def _policy(options: dict[str, object], account: FoundAccount) -> bool:
    """Set the delete policy from `keep`; True when fetchmail kept mail on the server."""
    kept = bool(options.get("keep"))
    account.settings.delete_policy = DeletePolicy.LEAVE if kept else DeletePolicy.AFTER_FETCH
    if options.get("flush"):
        account.unmapped.append("flush: fetchmail deleted old (seen) messages before fetching")
    if options.get("fetchall"):
        account.unmapped.append(
            "fetchall: fetchmail fetched old messages again; poptui fetches each message once"
        )
    return kept


def _tls_notes(options: dict[str, object], account: FoundAccount) -> None:
    if options.get("sslfingerprint"):
        account.unmapped.append(
            "sslfingerprint: an MD5 fingerprint, which poptui cannot pin (it pins SHA-256); "
            "poptui asks you to trust the certificate on the first fetch if it is self-signed"
        )
    if options.get("sslcertck") is False:
        account.warnings.append(
            "no sslcertck: fetchmail accepted any certificate; poptui always verifies it "
            "(or asks you to pin it)"
        )
    for key in ("sslcertfile", "sslcertpath"):
        if options.get(key):
            account.unmapped.append(
                f"{key} {one_line(str(options[key]), 80)!r}: pass it to `poptui fetch --ca-file`"
            )


def _deliveries(options: dict[str, object], account: FoundAccount, local: str) -> None:
    mda, hosts = options.get("mda"), options.get("smtphost")
    host = str(hosts[0]) if isinstance(hosts, list) and hosts else ""
    if isinstance(mda, str) and mda:
        words = f"mda {one_line(mda, 100)!r}"
        if "%F" in mda:
            deliveries.unmapped(
                account,
                words,
                "uses %F (the envelope sender), which poptui "
                "does not fill in; add the delivery target yourself",
            )
        else:
            deliveries.add(
                account, deliveries.mda_spec(mda.replace("%T", shlex.quote(local))), words
            )
    elif options.get("bsmtp"):
        deliveries.unmapped(account, f"bsmtp {options['bsmtp']!r}", "poptui writes no batch SMTP")
    elif options.get("lmtp") and host:
        address = host if host.startswith("/") else host.replace("/", ":")
        deliveries.add(account, f"lmtp:{address}", f"lmtp smtphost {one_line(host, 80)}")
    else:
        deliveries.unmapped(
            account,
            f"no mda: fetchmail forwarded mail by SMTP to {one_line(host or 'localhost', 80)}",
            "poptui keeps mail in its database; add a delivery target if you read it elsewhere",
        )


def _account(entry: Entry, user: User, rc: Rc, where: str) -> FoundAccount:
    options = {**rc.defaults, **entry.options, **user.options}
    remote = user.remote
    names = user.options.get("is")
    if "local_first" in user.options and isinstance(names, list) and names:
        remote = str(names[0])
    account = FoundAccount(Peer.FETCHMAIL, f"{where}:{user.line}", AccountSettings())
    s = account.settings
    s.name = entry.name if len(entry.users) == 1 else f"{entry.name} {remote}"
    s.incoming_host = str(options.get("via") or entry.name)
    s.username = remote
    s.email = remote if "@" in remote else ""
    s.incoming_security = _security(options, account)
    s.incoming_port = _port(options, s.incoming_security, account)
    proto = str(options.get("proto", options.get("protocol", "auto"))).lower()
    if proto not in ("pop3", "auto", "sdps"):
        account.not_imported = f"protocol {one_line(proto, 20)}: poptui speaks POP3 only"
    elif proto == "auto":
        account.mapped.append("proto auto: imported as POP3 (fetchmail would try IMAP first)")
    if entry.kind == "skip":
        account.not_imported = "a `skip` entry: fetchmail does not poll it either"
    account.peer_kept = _policy(options, account)
    for key, attribute in (
        ("limit", "max_message_bytes"),
        ("fetchlimit", "max_messages_per_fetch"),
    ):
        if int(str(options.get(key, 0))) > 0:
            setattr(s, attribute, int(str(options[key])))
    if str(rc.settings.get("daemon", "")).isdigit():
        s.poll_minutes = min(1440, max(1, int(str(rc.settings["daemon"])) // 60))
    if options.get("password") is not None:
        account.password = str(options["password"])
    auth = str(options.get("auth", options.get("authenticate", ""))).lower()
    if auth and auth not in ("password", "any", "cram-md5", "apop"):
        account.unmapped.append(f"auth {one_line(auth, 20)}: poptui signs in with a password")
    locals_ = options.get("is")
    if isinstance(locals_, list) and "local_first" not in user.options and len(locals_) > 1:
        account.unmapped.append("several local names (multidrop): poptui keeps one mailbox")
    _tls_notes(options, account)
    local = user.remote if "local_first" in user.options else getpass.getuser()
    if isinstance(names, list) and names and "local_first" not in user.options:
        local = str(names[0])
    _deliveries(options, account, local)
    return account


def _idfile(rc: Rc, path: Path) -> Path:
    """Where fetchmail kept its UIDLs: `set idfile`, else `$FETCHMAILHOME/.fetchids`, else
    `.fetchids` beside the rc file (its home), else `~/.fetchids`."""
    if rc.settings.get("idfile"):
        return Path(str(rc.settings["idfile"])).expanduser()
    if os.environ.get("FETCHMAILHOME"):
        return Path(os.environ["FETCHMAILHOME"]) / ".fetchids"
    beside = path.parent / ".fetchids"
    return beside if beside.exists() else Path.home() / ".fetchids"


def read_fetchids(text: str) -> dict[str, list[str]]:
    """`REMOTEUSER@QUERYNAME` → the UIDLs fetchmail saw, in file order (bad lines skipped)."""
    seen: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, uidl = line.strip().rpartition(" ")
        if key and "@" in key and valid_uidl(uidl):
            seen.setdefault(key.strip(), []).append(uidl)
    return seen


def plan(path: Path) -> ImportPlan:
    """What importing this `.fetchmailrc` would create; raises on a file fetchmail would refuse."""
    rc_file = read_peer_file(path, what="fetchmail setup")
    where = shown(path)
    result = ImportPlan(Peer.FETCHMAIL, [where])
    rc = parse_rc(rc_file.text, where)
    idfile = _idfile(rc, path)
    ids = read_state_file(idfile, what="fetchmail state file (.fetchids)")
    seen = read_fetchids(ids.text) if ids is not None else {}
    if ids is not None:
        result.files.append(shown(idfile))
    for entry in rc.entries:
        users = entry.users or [User(getpass.getuser(), entry.line)]
        for user in users:
            account = _account(entry, user, rc, where)
            if account.password is not None:
                account.password_file = where
                if (warning := rc_file.password_warning()) and warning not in result.warnings:
                    result.warnings.append(warning)
            query = str({**rc.defaults, **entry.options}.get("via") or entry.name)
            account.uidls = seen.get(f"{account.settings.username}@{query}", [])
            if account.uidls:
                account.state_file = shown(idfile)
            check(account)
            result.accounts.append(account)
    if ids is None and result.importable:
        result.warnings.append(
            f"No fetchmail state at {shown(idfile)}: every message on the servers counts as new"
        )
    return result

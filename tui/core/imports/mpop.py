"""mpop's configuration (`~/.mpoprc` or `$XDG_CONFIG_HOME/mpop/config`) and its UIDLs files.

The file is `command argument` lines: `defaults` sets what every account starts with,
`account NAME [: BASE, ...]` starts an account (copying the bases). Arguments may be quoted with
"…" (backslash escapes). The UIDLs file (default `~/.mpop_uidls/%U_at_%H`) starts with `#`
comments, then per account a line ` N HOST USER` (leading space) and N lines `UID [UNIXTIME]`.
"""

from __future__ import annotations

import os
from pathlib import Path

from tui.core.imports import deliveries
from tui.core.imports.checks import check, sha256_pin
from tui.core.imports.files import read_peer_file, read_state_file, shown, valid_uidl
from tui.core.imports.found import ConfigSyntaxError, FoundAccount, ImportPlan, Peer
from tui.core.imports.oauth_hint import token_command_suggestion
from tui.core.settings import DEFAULT_POP3_PORTS, AccountSettings, DeletePolicy, Security
from tui.core.text import one_line

DEFAULT_UIDLS = "~/.mpop_uidls/%U_at_%H"


def _argument(raw: str, where: str, line: int) -> str:
    raw = raw.strip()
    if not raw.startswith('"'):
        return raw
    chars, i = [], 1
    while i < len(raw) and raw[i] != '"':
        if raw[i] == "\\" and i + 1 < len(raw):
            i += 1
        chars.append(raw[i])
        i += 1
    if i >= len(raw):
        raise ConfigSyntaxError(where, line, 'the quoted argument is not closed with "')
    return "".join(chars)


def parse_config(text: str, where: str) -> list[tuple[str, int, dict[str, str]]]:
    """(account name, line, commands) per account, defaults and bases applied."""
    defaults: dict[str, str] = {}
    accounts: dict[str, tuple[int, dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, _, rest = line.partition(" ")
        command = command.lower()
        if command == "defaults":
            current = defaults
        elif command == "account":
            name, _, bases = rest.partition(":")
            name = _argument(name, where, number)
            if not name:
                raise ConfigSyntaxError(where, number, "account needs a name")
            current = dict(defaults)
            for base in filter(None, (b.strip() for b in bases.split(","))):
                if base not in accounts:
                    raise ConfigSyntaxError(
                        where, number, f"account {one_line(base, 40)!r} is not defined above"
                    )
                current.update(accounts[base][1])
            accounts[name] = (number, current)
        elif current is None:
            raise ConfigSyntaxError(
                where, number, f"{one_line(command, 30)!r} before the first account or defaults"
            )
        else:
            current[command] = _argument(rest, where, number)
            current[f"{command}@line"] = str(number)
    return [(name, line, commands) for name, (line, commands) in accounts.items()]


def _on(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("", "on")


def _delivery(value: str, account: FoundAccount) -> None:
    method, _, rest = value.strip().partition(" ")
    rest = _argument(rest, "", 0) if rest.strip().startswith('"') else rest.strip()
    words = f"delivery {one_line(value, 100)!r}"
    if method == "maildir" and rest:
        deliveries.add(account, f"maildir:{rest}", words)
    elif method == "mbox" and rest:
        deliveries.add(account, f"mbox:{rest}", words)
    elif method == "mda" and rest and "%F" not in rest:
        deliveries.add(account, deliveries.mda_spec(rest), words)
    else:
        deliveries.unmapped(
            account,
            words,
            "no delivery target like it in poptui "
            "(or it uses %F, the envelope sender); add one yourself",
        )


def _account(name: str, line: int, c: dict[str, str], where: str) -> FoundAccount:
    account = FoundAccount(Peer.MPOP, f"{where}:{line}", AccountSettings(name=name))
    s = account.settings
    s.incoming_host = c.get("host", "")
    s.username = c.get("user", "")
    s.email = s.username if "@" in s.username else ""
    if not _on(c.get("tls")):
        s.incoming_security = Security.NONE
        account.warnings.append(
            "tls off (mpop's default): mpop spoke clear text, and so will poptui (the password "
            "crosses the network); choose STARTTLS or SSL/TLS if the server offers it"
        )
    elif c.get("tls_starttls", "on").strip().lower() == "off":
        s.incoming_security = Security.SSL
    else:
        s.incoming_security = Security.STARTTLS
    port = c.get("port", "")
    if port and not port.isdigit():
        raise ConfigSyntaxError(
            where, int(c["port@line"]), f"port {one_line(port, 20)!r} is not a number"
        )
    s.incoming_port = int(port) if port else DEFAULT_POP3_PORTS[s.incoming_security]
    keep = c.get("keep")
    if keep is None or keep.strip().lower() == "off":
        s.delete_policy, account.peer_kept = DeletePolicy.AFTER_FETCH, False
    elif _on(keep):
        s.delete_policy = DeletePolicy.LEAVE
    elif keep.strip().rstrip("d").isdigit():  # mpop 1.4.23: keep N days
        s.delete_policy, s.delete_after_days = (
            DeletePolicy.AFTER_DAYS,
            int(keep.strip().rstrip("d")),
        )
    else:
        account.unmapped.append(
            f"keep {one_line(keep, 20)!r}: not understood; mail is left on the server"
        )
    if "password" in c:
        account.password = c["password"]
    auth = c.get("auth", "on").strip().lower()
    oauth2 = auth in ("xoauth2", "oauthbearer")
    if oauth2:
        account.unmapped.append(
            token_command_suggestion(f"auth {auth}", s.name, c.get("passwordeval", ""))
        )
    elif "passwordeval" in c:
        account.unmapped.append(
            f"passwordeval {one_line(c['passwordeval'], 80)!r}: not run; use "
            "`poptui secrets use command` or enter the password"
        )
    if not oauth2 and auth not in ("", "on", "user", "plain", "login", "cram-md5", "apop"):
        account.unmapped.append(f"auth {one_line(auth, 20)}: poptui signs in with a password")
    if "tls_fingerprint" in c:
        pin = sha256_pin(c["tls_fingerprint"])
        if pin:
            s.pinned_fingerprint = pin
        else:
            account.unmapped.append(
                "tls_fingerprint: SHA-1 or MD5, which poptui cannot pin (it pins SHA-256)"
            )
    if c.get("tls_certcheck", "on").strip().lower() == "off":
        account.warnings.append(
            "tls_certcheck off: mpop accepted any certificate; poptui verifies it "
            "(or asks you to pin it)"
        )
    if "tls_trust_file" in c and c["tls_trust_file"].strip().lower() not in ("", "system"):
        account.unmapped.append(
            f"tls_trust_file {one_line(c['tls_trust_file'], 80)!r}: "
            "pass it to `poptui fetch --ca-file`"
        )
    size = c.get("skipsize", "off").strip().lower()
    units = {"k": 1024, "m": 1024 * 1024}
    if size not in ("off", "0") and size.rstrip("km").isdigit():
        s.max_message_bytes = int(size.rstrip("km")) * units.get(size[-1], 1)
    if "killsize" in c and c["killsize"].strip().lower() != "off":
        account.unmapped.append("killsize: poptui never deletes a message it has not stored")
    if _on(c.get("only_new")) is False and "only_new" in c:
        account.unmapped.append(
            "only_new off: mpop processed old messages again; poptui fetches each once"
        )
    if "delivery" in c:
        _delivery(c["delivery"], account)
    if "filter" in c:
        account.unmapped.append(f"filter {one_line(c['filter'], 80)!r}: poptui has no fetch filter")
    return account


def uidls_path(commands: dict[str, str], user: str, host: str) -> Path:
    template = commands.get("uidls_file", DEFAULT_UIDLS) or DEFAULT_UIDLS
    return Path(template.replace("%U", user).replace("%H", host)).expanduser()


def read_uidls(text: str, host: str, user: str) -> list[str] | None:
    """The UIDLs listed for HOST and USER, or None when the file has no list for them."""
    found: list[str] | None = None
    collecting, remaining = False, 0
    for line in text.splitlines():
        if remaining:
            remaining -= 1
            uid = line.split(" ", 1)[0].strip()
            if collecting and found is not None and valid_uidl(uid):
                found.append(uid)
            continue
        parts = line.split()
        if line.startswith(" ") and len(parts) >= 3 and parts[0].isdigit():
            remaining = int(parts[0])
            collecting = parts[1] == host and " ".join(parts[2:]) == user
            if collecting and found is None:
                found = []
    return found


def default_paths() -> list[Path]:
    """Where mpop looks for its configuration, in its order."""
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path.home() / ".mpoprc", Path(xdg) / "mpop" / "config"]


def plan(path: Path) -> ImportPlan:
    """What importing this mpop configuration would create."""
    config = read_peer_file(path, what="mpop configuration")
    where = shown(path)
    result = ImportPlan(Peer.MPOP, [where])
    for name, line, commands in parse_config(config.text, where):
        account = _account(name, line, commands, where)
        if account.password is not None:
            account.password_file = where
            if (warning := config.password_warning()) and warning not in result.warnings:
                result.warnings.append(warning)
        s = account.settings
        state_path = uidls_path(commands, s.username, s.incoming_host)
        state = (
            read_state_file(state_path, what="mpop UIDLs file")
            if not account.not_imported
            else None
        )
        uidls = read_uidls(state.text, s.incoming_host, s.username) if state else None
        if uidls is not None:
            account.uidls, account.state_file = uidls, shown(state_path)
            if account.state_file not in result.files:
                result.files.append(account.state_file)
        elif not account.not_imported:
            result.warnings.append(
                f"No mpop UIDLs for {one_line(name, 40)} in {shown(state_path)}: every message "
                "on its server counts as new"
            )
        check(account)
        result.accounts.append(account)
    return result

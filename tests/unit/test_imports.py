"""The four peers' files read into import plans: the mapping onto poptui's settings, what is
left unmapped, and files written by someone hostile (escapes, huge, planted, broken)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui.core.imports import ConfigSyntaxError, ImportFailed, Peer, plan_import
from tui.core.imports.fetchmail import parse_rc
from tui.core.settings import DeletePolicy, Security

PIN = ":".join(["AB"] * 32)


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.delenv("FETCHMAILHOME", raising=False)
    return home


# ---------------------------------------------------------------- fetchmail


FETCHMAILRC = """\
# a comment, with "quotes" and keywords: poll keep
set daemon 600
defaults proto pop3 options keep
poll mail.example.com with proto pop3 service 995:
   user "joe@example.com" there with password "se\\"cret" is joe here
        options ssl fetchlimit 20 limit 100000 mda "/usr/bin/procmail -d %T"
   user 'ann' there has password 'x' is ann here nokeep sslfingerprint "AB:CD"
skip old.example.com proto imap user bob
poll other via 10.0.0.1 user "me" here is "remote" there; no keep, sslproto ''
"""


def test_fetchmail_entries_users_and_options_map_onto_settings(home: Path) -> None:
    write(home / ".fetchmailrc", FETCHMAILRC)
    write(home / ".fetchids", "joe@example.com@mail.example.com 0001\nremote@10.0.0.1 ZZ\n")
    plan = plan_import(Peer.FETCHMAIL)
    joe, ann, bob, other = plan.accounts
    assert joe.settings.incoming_host == "mail.example.com"
    assert (joe.settings.incoming_port, joe.settings.incoming_security) == (995, Security.SSL)
    assert joe.settings.username == "joe@example.com" and joe.password == 'se"cret'
    assert joe.settings.delete_policy is DeletePolicy.LEAVE  # `keep` from defaults
    assert (joe.settings.max_messages_per_fetch, joe.settings.max_message_bytes) == (20, 100000)
    assert joe.settings.poll_minutes == 10
    assert joe.uidls == ["0001"] and joe.where.endswith(".fetchmailrc:5")
    assert joe.deliveries == ["mda:/usr/bin/procmail -d joe"]  # %T is the local name
    assert ann.settings.delete_policy is DeletePolicy.AFTER_FETCH  # nokeep
    assert any("DELETE" in w for w in ann.warnings)
    assert any("MD5" in line for line in ann.unmapped)
    assert any("no mda: fetchmail forwarded mail by SMTP" in line for line in ann.unmapped)
    assert ann.settings.incoming_security is Security.STARTTLS
    assert bob.not_imported and not plan.importable.count(bob)
    assert other.settings.username == "remote" and other.settings.incoming_host == "10.0.0.1"
    assert other.settings.incoming_security is Security.NONE and other.uidls == ["ZZ"]
    assert plan.warnings == []  # 0600: no warning about others reading the passwords


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('poll a user "b" there with password "x\n\n', 1, "not closed"),
        ("poll a\n  user b\n  frobnicate\n", 3, "unknown keyword 'frobnicate'"),
        ("poll a user b limit lots\n", 1, "limit needs a number"),
        ("keep\n", 1, "expected poll, skip, defaults or set"),
        ("set colour blue\n", 1, "not a global option"),
        ("poll a user b mda\n", 1, "mda needs a value"),
    ],
)
def test_fetchmail_syntax_errors_name_file_and_line(
    home: Path, text: str, line: int, words: str
) -> None:
    rc = write(home / ".fetchmailrc", text)
    with pytest.raises(ConfigSyntaxError) as caught:
        plan_import(Peer.FETCHMAIL, rc)
    assert caught.value.line == line and words in caught.value.message
    assert caught.value.message.startswith(f"~/.fetchmailrc:{line}: ")


def test_fetchmail_grammar_noise_and_escapes() -> None:
    rc = parse_rc("server h, and with has wants options user 'u\\x41\\101' pass \"p\" ;\n", "f")
    (entry,) = rc.entries
    assert entry.users[0].remote == "uAA" and entry.users[0].options["password"] == "p"


# ---------------------------------------------------------------- getmail


GETMAILRC = """\
[retriever]
type = SimplePOP3SSLRetriever
server = pop.example.org
username = kim
password = hunter2
ssl_fingerprints = ('{pin}',)
password_command = __import__('os').system('touch {marker}')

[destination]
type = Maildir
path = ~/Maildir/

[options]
delete_after = 14
max_messages_per_session = 50
"""


def test_getmail_rc_state_and_policy(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    directory = home / ".config" / "getmail"
    write(
        directory / "getmailrc-work",
        GETMAILRC.format(pin=PIN.lower().replace(":", ""), marker=marker),
    )
    write(directory / "oldmail-pop.example.org-995-kim", "a-b\x001700000000\nbad line\nc\x001\n")
    write(directory / "notes.json", "{}")
    plan = plan_import(Peer.GETMAIL)
    (kim,) = plan.accounts
    s = kim.settings
    assert (s.name, s.incoming_port, s.incoming_security) == ("work", 995, Security.SSL)
    assert (s.delete_policy, s.delete_after_days) == (DeletePolicy.AFTER_DAYS, 14)
    assert s.max_messages_per_fetch == 50 and s.pinned_fingerprint == PIN
    # getmail writes "/" in a UIDL as "-": both spellings are filed
    assert kim.uidls == ["a-b", "a/b", "c"]
    assert not marker.exists()  # password_command is never run, nor evaluated
    assert any("password_command" in line and "not run" in line for line in kim.unmapped)
    assert kim.deliveries == ["maildir:~/Maildir/"]


def test_getmail_without_options_keeps_mail_and_says_read_all(home: Path) -> None:
    write(
        home / ".getmail" / "getmailrc",
        "[retriever]\ntype=SimplePOP3Retriever\nserver=h\nusername=u\n",
    )
    (account,) = plan_import(Peer.GETMAIL).accounts
    assert account.settings.delete_policy is DeletePolicy.LEAVE
    assert account.settings.incoming_security is Security.NONE and account.warnings
    assert any("read_all" in line for line in account.unmapped)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("server = x\n[retriever]\n", 1),
        ("[retriever]\ntype = SimplePOP3Retriever\nthis is not a setting\n", 3),
        ("[retriever]\nserver=h\nusername=u\nport = nine\n", 4),
        ("[retriever]\nserver=h\n[options]\ndelete = maybe\n", 4),
    ],
)
def test_getmail_syntax_errors_name_file_and_line(home: Path, text: str, line: int) -> None:
    rc = write(home / ".getmail" / "getmailrc", text)
    with pytest.raises(ConfigSyntaxError) as caught:
        plan_import(Peer.GETMAIL, rc)
    assert caught.value.line == line, caught.value.message


@pytest.mark.parametrize(
    ("peer", "file", "text", "spec"),
    [
        (Peer.FETCHMAIL, ".fetchmailrc", 'poll h user u mda "procmail -f %F"\n', None),
        (Peer.FETCHMAIL, ".fetchmailrc", "poll h user u mda 'formail | procmail'\n",
         "mda:sh -c 'formail | procmail'"),
        (Peer.FETCHMAIL, ".fetchmailrc", "poll h user u lmtp smtphost /run/lmtp\n",
         "lmtp:/run/lmtp"),
        (Peer.GETMAIL, ".getmail/getmailrc",
         "[retriever]\ntype=SimplePOP3SSLRetriever\nserver=h\nusername=u\n[destination]\n"
         "type=MDA_external\npath=/usr/bin/procmail\narguments=('-f', '%(sender)')\n", None),
        (Peer.GETMAIL, ".getmail/getmailrc",
         "[retriever]\ntype=SimplePOP3SSLRetriever\nserver=h\nusername=u\n[destination]\n"
         "type=MDA_lmtp\nhost=127.0.0.1\nport=2424\n", "lmtp:127.0.0.1:2424"),
        (Peer.GETMAIL, ".getmail/getmailrc",
         "[retriever]\ntype=SimplePOP3SSLRetriever\nserver=h\nusername=u\n[destination]\n"
         "type=Mboxrd\npath=/var/mail/u\n", "mbox:/var/mail/u"),
        (Peer.MPOP, ".mpoprc", "account a\nhost h\nuser u\ndelivery mbox ~/mbox\n", "mbox:~/mbox"),
        (Peer.MPOP, ".mpoprc", "account a\nhost h\nuser u\ndelivery exchange ~/x\n", None),
    ],
)  # fmt: skip
def test_deliveries_become_targets_or_are_said_unmapped(
    home: Path, peer: Peer, file: str, text: str, spec: str | None
) -> None:
    write(home / file, text)
    (account,) = plan_import(peer).accounts
    assert account.deliveries == ([spec] if spec else [])
    if spec is None:
        assert any("add" in line and "yourself" in line for line in account.unmapped)


# ---------------------------------------------------------------- mpop


def test_mpop_accounts_bases_tls_and_uidls(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(
        home / ".mpoprc",
        "defaults\ntls on\nkeep on\n\n"
        'account base\nhost pop.example.net\nuser "li"\npasswordeval touch ' + str(marker) + "\n"
        f"tls_fingerprint {PIN}\n"
        "account ssl : base\ntls_starttls off\nport 995\nuidls_file ~/uidls/%U@%H\n"
        "account plain\nhost p\nuser u\ntls off\nkeep off\nskipsize 2k\n",
    )
    write(
        home / "uidls" / "li@pop.example.net",
        "# mpop\n 2 pop.example.net li\nAAA 17\nBBB\n 1 other li\nCCC\n",
    )
    base, ssl_, plain = plan_import(Peer.MPOP).accounts
    assert (
        base.settings.incoming_security is Security.STARTTLS
        and base.settings.pinned_fingerprint == PIN
    )
    assert ssl_.settings.incoming_security is Security.SSL and ssl_.settings.incoming_port == 995
    assert ssl_.uidls == ["AAA", "BBB"] and ssl_.settings.delete_policy is DeletePolicy.LEAVE
    assert plain.settings.incoming_security is Security.NONE
    assert plain.settings.delete_policy is DeletePolicy.AFTER_FETCH
    assert plain.settings.max_message_bytes == 2048
    assert not marker.exists()
    assert any("passwordeval" in line and "not run" in line for line in base.unmapped)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("host x\naccount a\n", 1, "before the first account"),
        ("account a : nosuch\n", 1, "not defined above"),
        ('account a\nuser "unclosed\n', 2, "not closed"),
        ("account a\nport ninety\n", 2, "not a number"),
    ],
)
def test_mpop_syntax_errors(home: Path, text: str, line: int, words: str) -> None:
    rc = write(home / ".mpoprc", text)
    with pytest.raises(ConfigSyntaxError) as caught:
        plan_import(Peer.MPOP, rc)
    assert caught.value.line == line and words in caught.value.message


# ---------------------------------------------------------------- thunderbird
# Written from Thunderbird's documented formats (comm-central mailnews/mailnews.js,
# Pop3Client.sys.mjs): this is a fixture, not a file Thunderbird wrote.


def thunderbird_profile(home: Path, host: str, port: int, user: str, popstate: str) -> Path:
    profile = home / ".thunderbird" / "abcd1234.default-release"
    write(
        profile / "prefs.js",
        "// Mozilla User Preferences\n\n"
        'user_pref("mail.accountmanager.accounts", "account1,account2");\n'
        'user_pref("mail.account.account1.identities", "id1");\n'
        'user_pref("mail.account.account1.server", "server1");\n'
        'user_pref("mail.account.account2.server", "server2");\n'
        'user_pref("mail.identity.id1.smtpServer", "smtp1");\n'
        'user_pref("mail.identity.id1.useremail", "me@example.com");\n'
        'user_pref("mail.server.server1.directory-rel", "[ProfD]Mail/pop-host");\n'
        f'user_pref("mail.server.server1.hostname", "{host}");\n'
        'user_pref("mail.server.server1.leave_on_server", true);\n'
        'user_pref("mail.server.server1.delete_mail_left_on_server", true);\n'
        'user_pref("mail.server.server1.name", "Home \\u001b[31mmail");\n'
        f'user_pref("mail.server.server1.port", {port});\n'
        'user_pref("mail.server.server1.socketType", 3);\n'
        'user_pref("mail.server.server1.type", "pop3");\n'
        f'user_pref("mail.server.server1.userName", "{user}");\n'
        'user_pref("mail.server.server2.type", "none");\n'
        'user_pref("mail.smtpserver.smtp1.hostname", "smtp.example.com");\n'
        'user_pref("mail.smtpserver.smtp1.port", 587);\n'
        'user_pref("mail.smtpserver.smtp1.try_ssl", 2);\n',
    )
    write(profile / "Mail" / "pop-host" / "popstate.dat", popstate)
    return profile


def test_thunderbird_prefs_and_popstate(home: Path) -> None:
    popstate = (
        "# POP3 State File\n# This is a generated file!  Do not edit.\n\n"
        "*pop.example.com me\nk U1 1700000000\nd U2 1700000001\nb U3 1700000002\nf U4\n"
        "*other me\nk X 1\n"
    )
    thunderbird_profile(home, "pop.example.com", -1, "me", popstate)
    (account,) = plan_import(Peer.THUNDERBIRD).accounts
    s = account.settings
    assert s.name == "Home mail"  # the escape sequence is gone, the rest kept as text
    assert (s.incoming_port, s.incoming_security) == (995, Security.SSL)
    assert s.delete_policy is DeletePolicy.WHEN_DELETED_HERE
    assert (s.outgoing_host, s.outgoing_port, s.outgoing_security) == (
        "smtp.example.com",
        587,
        Security.STARTTLS,
    )
    assert s.email == "me@example.com"
    assert account.uidls == ["U1", "U2"]  # b and f were not fetched whole
    assert any("only in part" in line for line in account.mapped)
    assert account.password is None and any("logins.json" in line for line in account.unmapped)


def test_thunderbird_broken_pref_line(home: Path) -> None:
    prefs = write(home / "p" / "prefs.js", 'user_pref("a", 1);\nuser_pref("b", oops);\n')
    with pytest.raises(ConfigSyntaxError) as caught:
        plan_import(Peer.THUNDERBIRD, prefs)
    assert caught.value.line == 2


# ---------------------------------------------------------------- hostile files


def test_terminal_escapes_in_names_are_cleaned(home: Path) -> None:
    write(home / ".fetchmailrc", 'poll "evil\x1b]0;pwned\x07\x1b[2J" via h user "u\x1b[31m"\n')
    (account,) = plan_import(Peer.FETCHMAIL).accounts
    assert "\x1b" not in account.settings.name and account.settings.name.startswith("evil")
    assert account.not_imported and "user name" in account.not_imported  # escapes in a login


def test_huge_file_is_refused_before_reading(home: Path) -> None:
    rc = write(home / ".fetchmailrc", "# x\n" * 400_000)
    with pytest.raises(ImportFailed, match="too large"):
        plan_import(Peer.FETCHMAIL, rc)


def test_password_file_readable_by_others_is_warned_about(home: Path) -> None:
    write(home / ".fetchmailrc", 'poll h user u password "p"\n', mode=0o644)
    plan = plan_import(Peer.FETCHMAIL)
    assert any("others can read it (mode 0644)" in w for w in plan.warnings)
    assert plan.accounts[0].password_file.endswith(".fetchmailrc")


@pytest.mark.skipif(os.getuid() != 0, reason="planting a file as another user needs root")
def test_symlink_or_file_planted_by_another_user_is_refused(home: Path, tmp_path: Path) -> None:
    target = write(tmp_path / "theirs", 'poll h user u password "p"\n')
    link = home / ".fetchmailrc"
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    with pytest.raises(ImportFailed, match="symbolic link made by another user"):
        plan_import(Peer.FETCHMAIL)
    link.unlink()
    os.chown(target, 65534, 65534)
    with pytest.raises(ImportFailed, match="belongs to another user"):
        plan_import(Peer.FETCHMAIL, target)


def test_a_device_is_not_a_setup(home: Path) -> None:
    with pytest.raises(ImportFailed, match="not a regular file"):
        plan_import(Peer.MPOP, Path("/dev/zero"))


def test_hostile_uidls_in_state_are_skipped(home: Path) -> None:
    write(home / ".fetchmailrc", "poll h user u keep\n")
    write(home / ".fetchids", "u@h GOOD\nu@h BAD\x1b[2J\nu@h " + "L" * 71 + "\n")
    (account,) = plan_import(Peer.FETCHMAIL).accounts
    assert account.uidls == ["GOOD"]


def test_missing_setup_is_worded(home: Path) -> None:
    with pytest.raises(ImportFailed, match="No mpop setup found"):
        plan_import(Peer.MPOP)

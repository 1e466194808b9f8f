"""Imported OAuth2 mailboxes (mpop's auth xoauth2 + passwordeval, getmail6's use_xoauth2 +
getmail-gmail-xoauth-tokens): a token-command mailbox is *suggested* in the report, the
command is never run, never saved, and a hostile one is shown cleaned or not at all."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_imports import home, write
from tui.core.imports import Peer, plan_import

__all__ = ["home"]


def test_mpop_xoauth2_with_passwordeval_is_suggested_not_run(
    home: Path,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    write(
        home / ".mpoprc",
        "account work\nhost outlook.office365.com\nuser ana@contoso.example\nauth xoauth2\n"
        f"passwordeval oauth2-helper --token && touch {marker}\n",
    )
    (work,) = plan_import(Peer.MPOP).accounts
    assert not marker.exists()
    assert work.settings.oauth_token_command == ""  # only a suggestion
    line = next(line for line in work.unmapped if "auth xoauth2" in line)
    assert "was not run" in line
    assert f"--oauth2 --token-command 'oauth2-helper --token && touch {marker}'" in line
    assert "poptui account signin work" in line
    assert not any("signs in with a password" in line for line in work.unmapped)


def test_getmail_gmail_xoauth_tokens_is_suggested_not_run(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    write(
        home / ".config" / "getmail" / "getmailrc-gmail",
        "[retriever]\ntype = SimplePOP3SSLRetriever\nserver = pop.gmail.com\n"
        "username = ana@gmail.com\nuse_xoauth2 = True\n"
        f"password_command = ('getmail-gmail-xoauth-tokens', '{marker}.json')\n"
        "[destination]\ntype = Maildir\npath = ~/Maildir/\n",
    )
    (gmail,) = plan_import(Peer.GETMAIL).accounts
    assert not Path(f"{marker}.json").exists()
    assert gmail.settings.oauth_token_command == ""
    line = next(line for line in gmail.unmapped if line.startswith("use_xoauth2"))
    assert f"--token-command 'getmail-gmail-xoauth-tokens {marker}.json'" in line


def test_a_hostile_token_command_is_not_offered_for_pasting(home: Path) -> None:
    write(
        home / ".mpoprc",
        "account evil\nhost pop.example.net\nuser u\nauth oauthbearer\n"
        "passwordeval helper \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\n",
    )
    (evil,) = plan_import(Peer.MPOP).accounts
    line = next(line for line in evil.unmapped if "auth oauthbearer" in line)
    assert "\x1b" not in line and "\x07" not in line
    assert "--token-command" not in line and "too long or unusual" in line

"""Provider presets: the built-in table, DNS SRV discovery with a fake resolver, guesses,
filling the form and the hints given when a provider rejects a password."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import dns.rdata
import dns.resolver
import pytest

from tui.core.settings import AccountSettings, DeletePolicy, Security
from tui.core.setup.discovery import discover
from tui.core.setup.providers import (
    GOOGLE_APP_PASSWORD_HINT,
    GOOGLE_REJECTED_HINT,
    GOOGLE_WEB_LOGIN_HINT,
    OAUTH_ONLY_MICROSOFT_HINT,
    PROVIDERS,
    ProviderPreset,
    ServerEndpoint,
    apply_preset,
    fill_outgoing_from_incoming,
    hint_for_auth_failure,
    lookup_known,
)
from tui.core.setup.validation import validate_account

SSL, STARTTLS, NONE = Security.SSL, Security.STARTTLS, Security.NONE

# --- the table ---------------------------------------------------------------------------------

GMAIL = ("pop.gmail.com", 995, SSL, "smtp.gmail.com", 465, SSL)
OUTLOOK = ("outlook.office365.com", 995, SSL, "smtp-mail.outlook.com", 587, STARTTLS)
YAHOO = ("pop.mail.yahoo.com", 995, SSL, "smtp.mail.yahoo.com", 465, SSL)
AOL = ("pop.aol.com", 995, SSL, "smtp.aol.com", 465, SSL)
ZOHO = ("pop.zoho.com", 995, SSL, "smtp.zoho.com", 465, SSL)


def zoho(region: str) -> tuple[str, int, Security, str, int, Security]:
    return (f"pop.{region}", 995, SSL, f"smtp.{region}", 465, SSL)


TABLE = [
    ("gmail.com", GMAIL),
    ("googlemail.com", GMAIL),
    ("outlook.com", OUTLOOK),
    ("hotmail.com", OUTLOOK),
    ("live.com", OUTLOOK),
    ("msn.com", OUTLOOK),
    ("yahoo.com", YAHOO),
    ("ymail.com", YAHOO),
    ("rocketmail.com", YAHOO),
    ("aol.com", AOL),
    ("aim.com", AOL),
    ("zoho.com", ZOHO),
    ("zohomail.com", ZOHO),
    ("zoho.eu", zoho("zoho.eu")),
    ("zoho.in", zoho("zoho.in")),
    ("zoho.com.au", zoho("zoho.com.au")),
    ("zoho.jp", zoho("zoho.jp")),
    ("zohocloud.ca", zoho("zohocloud.ca")),
]
WILDCARDS = [
    ("hotmail.co.uk", OUTLOOK),
    ("hotmail.fr", OUTLOOK),
    ("hotmail.de", OUTLOOK),
    ("hotmail.it", OUTLOOK),
    ("hotmail.com.br", OUTLOOK),
    ("live.co.uk", OUTLOOK),
    ("outlook.fr", OUTLOOK),
    ("yahoo.co.uk", YAHOO),
    ("yahoo.fr", YAHOO),
    ("yahoo.de", YAHOO),
    ("yahoo.com.au", YAHOO),
    ("yahoo.co.in", YAHOO),
    ("aol.de", AOL),
    ("aol.fr", AOL),
    ("aol.co.uk", AOL),
]


def servers(preset: ProviderPreset) -> tuple[str, int, Security, str, int, Security]:
    assert preset.outgoing is not None
    return (
        preset.incoming.host,
        preset.incoming.port,
        preset.incoming.security,
        preset.outgoing.host,
        preset.outgoing.port,
        preset.outgoing.security,
    )


@pytest.mark.parametrize(("domain", "expected"), TABLE + WILDCARDS)
def test_known_domains_map_to_their_servers(domain: str, expected: tuple[Any, ...]) -> None:
    preset = lookup_known(f"someone@{domain}")
    assert preset is not None
    assert servers(preset) == expected
    assert preset.username == f"someone@{domain}"
    assert preset.guessed is False
    assert preset.note


def test_every_domain_in_the_table_is_tested() -> None:
    listed = {domain for provider in PROVIDERS for domain in provider.domains}
    assert listed <= {domain for domain, _ in TABLE}
    families = {family for provider in PROVIDERS for family in provider.families}
    assert families == {"hotmail", "outlook", "live", "yahoo", "aol"}


@pytest.mark.parametrize(
    "domain",
    [
        "example.com",
        "hotmail.example.org",
        "yahoo.evil.io",
        "gmail.com.evil.io",
        "mygmail.com",
        "mail.gmail.com",
        "hotmail.company",
        "yahoo.co.jp",  # Yahoo Japan: another company, other servers
        "zoho.org",
        "aol.example.com",
    ],
)
def test_lookalike_domains_are_not_known(domain: str) -> None:
    assert lookup_known(f"someone@{domain}") is None


@pytest.mark.parametrize("email", ["", "no-at-sign", "someone@", "someone@localhost"])
def test_lookup_without_a_usable_domain(email: str) -> None:
    assert lookup_known(email) is None


def test_lookup_ignores_case_spaces_and_trailing_dot() -> None:
    preset = lookup_known("  Alice@GMail.COM. ")
    assert preset is not None
    assert preset.incoming.host == "pop.gmail.com"
    assert preset.username == "Alice@GMail.COM."


def test_provider_notes_and_flags() -> None:
    gmail = lookup_known("a@gmail.com")
    outlook = lookup_known("a@hotmail.co.uk")
    yahoo = lookup_known("a@yahoo.com")
    aol = lookup_known("a@aol.com")
    zoho_com = lookup_known("a@zoho.com")
    zoho_eu = lookup_known("a@zoho.eu")
    assert gmail and outlook and yahoo and aol and zoho_com and zoho_eu
    assert (gmail.needs_app_password, gmail.oauth_only) == (True, False)
    assert "2-Step Verification" in gmail.note and "app password" in gmail.note
    assert "recent:" in gmail.note
    assert (outlook.needs_app_password, outlook.oauth_only) == (False, True)
    assert "switched off password login for POP" in outlook.note
    assert "poptui cannot log in with a password" in outlook.note
    assert yahoo.needs_app_password and "app password" in yahoo.note
    assert aol.needs_app_password and "AOL" in aol.note
    assert zoho_com.needs_app_password
    assert "poppro.zoho.com" in zoho_com.note
    assert "poppro" not in zoho_eu.note


# --- discovery ---------------------------------------------------------------------------------


def srv(text: str) -> Any:
    return dns.rdata.from_text("IN", "SRV", text)


class FakeResolver:
    """Answers SRV queries from a dict; a value that is an exception is raised instead."""

    lifetime = 0.0
    timeout = 0.0

    def __init__(self, answers: dict[str, list[str] | BaseException]) -> None:
        self.answers = answers
        self.queries: list[tuple[str, str, float]] = []

    def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> Iterable[Any]:
        self.queries.append((qname, rdtype, lifetime))
        answer = self.answers.get(qname, dns.resolver.NXDOMAIN())
        if isinstance(answer, BaseException):
            raise answer
        return [srv(text) for text in answer]


def test_discover_known_domain_needs_no_dns() -> None:
    resolver = FakeResolver({})
    preset = discover("a@gmail.com", resolver=resolver)
    assert preset is not None and preset.incoming.host == "pop.gmail.com"
    assert resolver.queries == []


def test_discover_pop3s_and_submission_records() -> None:
    resolver = FakeResolver(
        {
            "_pop3s._tcp.example.org": ["10 1 995 mail.example.org."],
            "_submission._tcp.example.org": ["0 1 587 smtp.example.org."],
        }
    )
    preset = discover("bob@example.org", resolver=resolver, timeout=2.0)
    assert preset is not None
    assert preset.incoming == ServerEndpoint("mail.example.org", 995, SSL)
    assert preset.outgoing == ServerEndpoint("smtp.example.org", 587, STARTTLS)
    assert preset.username == "bob@example.org"
    assert preset.guessed is False
    assert preset.note == "Found in the DNS (SRV) records of example.org."
    # pop3s found, so plain pop3 is not asked; implicit-TLS submission is asked first.
    assert [q[0] for q in resolver.queries] == [
        "_pop3s._tcp.example.org",
        "_submissions._tcp.example.org",
        "_submission._tcp.example.org",
    ]
    assert all(rdtype == "SRV" and 0 < lifetime <= 2.0 for _, rdtype, lifetime in resolver.queries)


def test_discover_prefers_implicit_tls_submission() -> None:
    resolver = FakeResolver(
        {
            "_pop3s._tcp.example.org": ["0 0 995 pop.example.org."],
            "_submissions._tcp.example.org": ["0 0 465 smtp.example.org."],
            "_submission._tcp.example.org": ["0 0 587 smtp.example.org."],
        }
    )
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert preset.outgoing == ServerEndpoint("smtp.example.org", 465, SSL)


def test_discover_only_plain_pop3_record_means_starttls() -> None:
    resolver = FakeResolver(
        {
            "_pop3._tcp.example.org": ["0 0 110 pop.example.org."],
            "_submission._tcp.example.org": ["0 0 587 smtp.example.org."],
        }
    )
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert preset.incoming == ServerEndpoint("pop.example.org", 110, STARTTLS)
    assert preset.guessed is False


def test_discover_picks_lowest_priority_then_highest_weight() -> None:
    resolver = FakeResolver(
        {
            "_pop3s._tcp.example.org": [
                "20 100 995 backup.example.org.",
                "10 1 995 light.example.org.",
                "10 50 9995 heavy.example.org.",
            ]
        }
    )
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert preset.incoming == ServerEndpoint("heavy.example.org", 9995, SSL)


def test_discover_target_dot_means_pop3_not_offered() -> None:
    resolver = FakeResolver({"_pop3s._tcp.example.org": ["0 0 0 ."]})
    assert discover("bob@example.org", resolver=resolver) is None

    both = FakeResolver(
        {"_pop3s._tcp.example.org": ["0 0 0 ."], "_pop3._tcp.example.org": ["0 0 0 ."]}
    )
    assert discover("bob@example.org", resolver=both) is None


def test_discover_pop3s_not_offered_but_pop3_is() -> None:
    resolver = FakeResolver(
        {
            "_pop3s._tcp.example.org": ["0 0 0 ."],
            "_pop3._tcp.example.org": ["0 0 110 pop.example.org."],
        }
    )
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert preset.incoming == ServerEndpoint("pop.example.org", 110, STARTTLS)


def test_discover_submission_not_offered_leaves_outgoing_empty() -> None:
    resolver = FakeResolver(
        {
            "_pop3s._tcp.example.org": ["0 0 995 pop.example.org."],
            "_submissions._tcp.example.org": ["0 0 0 ."],
            "_submission._tcp.example.org": ["0 0 0 ."],
        }
    )
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert preset.outgoing is None
    assert "publishes no outgoing (SMTP) server" in preset.note


def test_discover_without_submission_record_guesses_outgoing_from_incoming() -> None:
    resolver = FakeResolver({"_pop3s._tcp.example.org": ["0 0 995 pop3.mail.example.org."]})
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert preset.outgoing == ServerEndpoint("smtp.mail.example.org", 465, SSL)
    assert "smtp.mail.example.org is a guess" in preset.note


def test_discover_ignores_unusable_srv_targets() -> None:
    resolver = FakeResolver({"_pop3s._tcp.example.org": ["0 0 995 bad_-.-x.example.org."]})
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None and preset.guessed is True


GUESS_IN = ServerEndpoint("pop.example.org", 995, SSL)
GUESS_OUT = ServerEndpoint("smtp.example.org", 465, SSL)


@pytest.mark.parametrize(
    "failure",
    [
        dns.resolver.NXDOMAIN(),
        dns.resolver.NoAnswer(),
        dns.resolver.NoNameservers(),
        dns.resolver.LifetimeTimeout(timeout=3.0, errors=[]),
        OSError("network unreachable"),
        RuntimeError("anything at all"),
    ],
)
def test_discover_dns_failures_fall_back_to_a_guess(failure: BaseException) -> None:
    resolver = FakeResolver({"_pop3s._tcp.example.org": failure, "_pop3._tcp.example.org": failure})
    preset = discover("bob@example.org", resolver=resolver)
    assert preset is not None
    assert (preset.incoming, preset.outgoing) == (GUESS_IN, GUESS_OUT)
    assert preset.guessed is True
    assert preset.username == "bob@example.org"
    assert "guess" in preset.note and "“Test & save”" in preset.note


def test_discover_spent_timeout_asks_nothing() -> None:
    resolver = FakeResolver({"_pop3s._tcp.example.org": ["0 0 995 pop.example.org."]})
    preset = discover("bob@example.org", resolver=resolver, timeout=0)
    assert resolver.queries == []
    assert preset is not None and preset.guessed is True


def test_discover_without_resolver_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_configuration(*args: object, **kwargs: object) -> None:
        raise dns.resolver.NoResolverConfiguration("no /etc/resolv.conf")

    monkeypatch.setattr(dns.resolver, "Resolver", no_configuration)
    preset = discover("bob@example.org")
    assert preset is not None and preset.incoming == GUESS_IN and preset.guessed


def test_discover_default_resolver_gets_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[FakeResolver] = []

    class Resolver(FakeResolver):
        def __init__(self) -> None:
            super().__init__({"_pop3s._tcp.example.org": ["0 0 995 pop.example.org."]})
            made.append(self)

    monkeypatch.setattr(dns.resolver, "Resolver", Resolver)
    preset = discover("bob@example.org", timeout=1.5)
    assert preset is not None and preset.guessed is False
    assert made[0].lifetime == 1.5 == made[0].timeout
    assert made[0].queries[0][0] == "_pop3s._tcp.example.org"


@pytest.mark.parametrize("email", ["", "bob", "bob@", "bob@localhost", "bob@exa mple.org"])
def test_discover_without_a_usable_domain(email: str) -> None:
    resolver = FakeResolver({})
    assert discover(email, resolver=resolver) is None
    assert resolver.queries == []


def test_discover_probe_tries_common_hosts_implicit_tls_first() -> None:
    tried: list[tuple[str, int, Security]] = []

    def probe(host: str, port: int, security: Security) -> bool:
        tried.append((host, port, security))
        return host == "mail.example.org" and security is STARTTLS

    preset = discover("bob@example.org", resolver=FakeResolver({}), probe=probe)
    assert tried == [
        ("pop.example.org", 995, SSL),
        ("pop.example.org", 110, STARTTLS),
        ("pop3.example.org", 995, SSL),
        ("pop3.example.org", 110, STARTTLS),
        ("mail.example.org", 995, SSL),
        ("mail.example.org", 110, STARTTLS),
    ]
    assert preset is not None
    assert preset.incoming == ServerEndpoint("mail.example.org", 110, STARTTLS)
    assert preset.outgoing == ServerEndpoint("mail.example.org", 465, SSL)
    assert preset.guessed is False
    assert "answered at mail.example.org" in preset.note


def test_discover_probe_finds_nothing_or_fails() -> None:
    def probe(host: str, port: int, security: Security) -> bool:
        if host.startswith("pop3."):
            raise ConnectionRefusedError
        return False

    preset = discover("bob@example.org", resolver=FakeResolver({}), probe=probe)
    assert preset is not None
    assert (preset.incoming, preset.guessed) == (GUESS_IN, True)
    assert "no server answered at pop.example.org, pop3.example.org or mail.example.org" in (
        preset.note
    )


def test_discover_probe_is_not_used_when_dns_answers() -> None:
    def probe(host: str, port: int, security: Security) -> bool:
        raise AssertionError("must not probe")

    resolver = FakeResolver({"_pop3s._tcp.example.org": ["0 0 995 pop.example.org."]})
    preset = discover("bob@example.org", resolver=resolver, probe=probe)
    assert preset is not None and preset.guessed is False


# --- filling the form --------------------------------------------------------------------------


def test_apply_preset_fills_both_sides_and_says_so() -> None:
    before = AccountSettings(name="Mail", email="alice@gmail.com")
    preset = lookup_known("alice@gmail.com")
    assert preset is not None
    after, lines = apply_preset(before, preset)
    assert lines == [
        "Incoming server set to pop.gmail.com:995 (SSL/TLS)",
        "Outgoing server set to smtp.gmail.com:465 (SSL/TLS)",
        "Username set to alice@gmail.com",
    ]
    assert (after.incoming_host, after.incoming_port, after.incoming_security) == GMAIL[:3]
    assert (after.outgoing_host, after.outgoing_port, after.outgoing_security) == GMAIL[3:]
    assert after.username == after.outgoing_username == "alice@gmail.com"
    assert after.name == "Mail"
    assert before.incoming_host == "" and before.username == ""  # a copy, not a mutation
    assert validate_account(after) == []


def test_apply_preset_outlook_starttls_line() -> None:
    preset = lookup_known("a@hotmail.com")
    assert preset is not None
    _, lines = apply_preset(AccountSettings(), preset)
    assert lines[1] == "Outgoing server set to smtp-mail.outlook.com:587 (STARTTLS)"


def test_apply_preset_keeps_gmail_recent_prefix() -> None:
    before = AccountSettings(username="recent:old@gmail.com", delete_policy=DeletePolicy.LEAVE)
    preset = lookup_known("alice@gmail.com")
    assert preset is not None
    after, lines = apply_preset(before, preset)
    assert after.username == "recent:alice@gmail.com"
    assert after.outgoing_username == "alice@gmail.com"
    assert lines[-2:] == [
        "Username set to recent:alice@gmail.com",
        "Outgoing username set to alice@gmail.com",
    ]


def test_apply_preset_without_outgoing_leaves_it_alone() -> None:
    preset = ProviderPreset(
        name="example.org",
        incoming=ServerEndpoint("pop.example.org", 110, STARTTLS),
        outgoing=None,
        username="bob@example.org",
    )
    before = AccountSettings(outgoing_host="smtp.isp.net", outgoing_port=587)
    after, lines = apply_preset(before, preset)
    assert lines == [
        "Incoming server set to pop.example.org:110 (STARTTLS)",
        "Username set to bob@example.org",
    ]
    assert (after.outgoing_host, after.outgoing_port) == ("smtp.isp.net", 587)


@pytest.mark.parametrize(
    ("incoming_host", "incoming_security", "expected"),
    [
        ("pop.example.org", SSL, ("smtp.example.org", 465, SSL)),
        ("pop3.example.org", SSL, ("smtp.example.org", 465, SSL)),
        ("POP.example.org", SSL, ("smtp.example.org", 465, SSL)),
        ("mail.example.org", SSL, ("mail.example.org", 465, SSL)),
        ("pop.example.org", STARTTLS, ("smtp.example.org", 587, STARTTLS)),
        ("pop.example.org", NONE, ("smtp.example.org", 587, STARTTLS)),
        ("popular.example.org", SSL, ("popular.example.org", 465, SSL)),
        ("outlook.office365.com", SSL, ("smtp-mail.outlook.com", 587, STARTTLS)),
        ("pop.gmail.com", SSL, ("smtp.gmail.com", 465, SSL)),
        ("", SSL, ("", 465, SSL)),
    ],
)
def test_fill_outgoing_from_incoming(
    incoming_host: str, incoming_security: Security, expected: tuple[str, int, Security]
) -> None:
    before = AccountSettings(
        incoming_host=incoming_host, incoming_security=incoming_security, username="bob"
    )
    after = fill_outgoing_from_incoming(before)
    assert (after.outgoing_host, after.outgoing_port, after.outgoing_security) == expected
    assert after.outgoing_username == "bob"
    assert before.outgoing_host == ""


def test_fill_outgoing_drops_gmail_recent_prefix() -> None:
    before = AccountSettings(incoming_host="pop.gmail.com", username="recent:alice@gmail.com")
    after = fill_outgoing_from_incoming(before)
    assert after.outgoing_username == "alice@gmail.com"
    assert dataclasses.replace(after, outgoing_host="") != before  # something was filled


# --- hints when a password is rejected ---------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["outlook.office365.com", "OUTLOOK.office365.com.", "pop-mail.outlook.com"]
)
def test_microsoft_rejection_says_oauth_only(host: str) -> None:
    hint = hint_for_auth_failure(host, "-ERR Logon failure: unknown user name or bad password.")
    assert hint == OAUTH_ONLY_MICROSOFT_HINT
    assert "switched off password login for POP" in hint and "OAuth2" in hint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "-ERR [AUTH] Application-specific password required: https://support.google.com/",
            GOOGLE_APP_PASSWORD_HINT,
        ),
        ("-ERR [AUTH] Web login required: https://support.google.com/mail/", GOOGLE_WEB_LOGIN_HINT),
        ("-ERR [AUTH] Username and password not accepted.", GOOGLE_REJECTED_HINT),
    ],
)
def test_gmail_rejections(text: str, expected: str) -> None:
    assert hint_for_auth_failure("pop.gmail.com", text) == expected


def test_gmail_hints_mention_what_to_do() -> None:
    assert "app password" in GOOGLE_APP_PASSWORD_HINT
    assert "web browser" in GOOGLE_WEB_LOGIN_HINT
    assert "OAuth2" in GOOGLE_REJECTED_HINT and "app password" in GOOGLE_REJECTED_HINT


def test_app_password_providers_get_a_named_hint() -> None:
    hint = hint_for_auth_failure("pop.mail.yahoo.com", "-ERR [AUTH] invalid credentials")
    assert hint is not None and hint.startswith("Yahoo Mail rejected the password")
    assert "app password" in hint
    zoho_hint = hint_for_auth_failure("pop.zoho.eu", "-ERR authentication failed")
    assert zoho_hint is not None and zoho_hint.startswith("Zoho Mail")


def test_app_password_reply_from_any_server() -> None:
    hint = hint_for_auth_failure(
        "pop.example.org", "-ERR [AUTH] Application-specific password required"
    )
    assert hint is not None and "app (application-specific) password" in hint


def test_unknown_server_gets_no_hint() -> None:
    assert hint_for_auth_failure("pop.example.org", "-ERR [AUTH] invalid password") is None
    assert hint_for_auth_failure("", "") is None

"""Server settings for a domain not in the providers table: DNS SRV records, then a guess.

RFC 6186 and RFC 8314 SRV records name the POP3 and submission servers; without them, common host
names are probed when the caller allows it, and failing that a guess is returned marked as one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from tui.core.settings import DEFAULT_POP3_PORTS, Security
from tui.core.setup.addresses import validate_host
from tui.core.setup.providers import (
    ProviderPreset,
    ServerEndpoint,
    domain_of,
    guess_outgoing_host,
    lookup_known,
)


class SrvResolver(Protocol):
    """The part of `dns.resolver.Resolver` that discovery uses; tests pass a fake."""

    def resolve(self, qname: str, rdtype: str, *, lifetime: float) -> Iterable[Any]:
        """SRV rdata objects with .priority, .weight, .port and .target; raises on failure."""
        ...


Probe = Callable[[str, int, Security], bool]
"""`probe(host, port, security)` → True when a POP3 server answers there (e.g. CAPA works)."""


@dataclass(frozen=True)
class _SrvResult:
    endpoint: ServerEndpoint | None
    not_offered: bool = False
    """The domain published target "." (RFC 2782): "this service is decidedly not available"."""


def _default_resolver(timeout: float) -> SrvResolver | None:
    try:
        import dns.resolver
    except ImportError:  # pragma: no cover - dnspython is a dependency
        return None
    try:
        resolver = dns.resolver.Resolver()
    except Exception:  # no /etc/resolv.conf and the like: discovery falls back to guessing
        return None
    resolver.lifetime = timeout
    resolver.timeout = timeout
    return resolver


def _lookup_srv(
    resolver: SrvResolver, qname: str, security: Security, deadline: float
) -> _SrvResult:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return _SrvResult(None)
    try:
        records = list(resolver.resolve(qname, "SRV", lifetime=remaining))
    except Exception:
        # NXDOMAIN, no answer, timeout, no name servers, garbage from a fake: all mean "unknown".
        return _SrvResult(None)
    usable: list[tuple[int, int, str, int]] = []
    saw_root = False
    for record in records:
        try:
            target = str(record.target).rstrip(".").lower()
            port = int(record.port)
            priority, weight = int(record.priority), int(record.weight)
        except (AttributeError, TypeError, ValueError):
            continue
        if not target:
            saw_root = True
            continue
        if 1 <= port <= 65535 and validate_host(target) is None:
            usable.append((priority, -weight, target, port))
    if usable:
        # Lowest priority first; among equals the heaviest weight, a deterministic stand-in
        # for RFC 2782's weighted random choice.
        _, _, target, port = min(usable)
        return _SrvResult(ServerEndpoint(target, port, security))
    return _SrvResult(None, not_offered=saw_root)


def discover(
    email: str,
    *,
    timeout: float = 3.0,
    resolver: SrvResolver | None = None,
    probe: Probe | None = None,
) -> ProviderPreset | None:
    """Settings for any address: the table first, then DNS SRV records, then a guess.

    Never raises for DNS trouble and never takes much longer than `timeout` for the DNS part.
    Without `probe` no socket is opened besides DNS; with it, `pop.`, `pop3.` and `mail.` hosts
    are tried (implicit TLS first) and the first that answers is used. Returns None when the
    address has no usable domain or the domain's DNS says it offers no POP3 at all.
    Blocking: call it from a worker thread.
    """
    known = lookup_known(email)
    if known is not None:
        return known
    domain = domain_of(email)
    if domain is None or validate_host(domain) is not None:
        return None
    address = email.strip()

    deadline = time.monotonic() + timeout
    if resolver is None:
        resolver = _default_resolver(timeout)
    if resolver is not None:
        pop3s = _lookup_srv(resolver, f"_pop3s._tcp.{domain}", Security.SSL, deadline)
        pop3 = _SrvResult(None)
        if pop3s.endpoint is None:
            pop3 = _lookup_srv(resolver, f"_pop3._tcp.{domain}", Security.STARTTLS, deadline)
        incoming = pop3s.endpoint or pop3.endpoint
        if incoming is None and (pop3s.not_offered or pop3.not_offered):
            return None
        if incoming is not None:
            submissions = _lookup_srv(
                resolver, f"_submissions._tcp.{domain}", Security.SSL, deadline
            )
            submission = _SrvResult(None)
            if submissions.endpoint is None:
                submission = _lookup_srv(
                    resolver, f"_submission._tcp.{domain}", Security.STARTTLS, deadline
                )
            outgoing = submissions.endpoint or submission.endpoint
            outgoing_guessed = False
            if outgoing is None and not (submissions.not_offered or submission.not_offered):
                outgoing = ServerEndpoint(guess_outgoing_host(incoming.host), 465, Security.SSL)
                outgoing_guessed = True
            note = f"Found in the DNS (SRV) records of {domain}."
            if outgoing is None:
                note += f" {domain} publishes no outgoing (SMTP) server; enter one if you need it."
            elif outgoing_guessed:
                note += (
                    f" The outgoing server {outgoing.host} is a guess; “Test & save” will check it."
                )
            return ProviderPreset(
                name=domain, incoming=incoming, outgoing=outgoing, username=address, note=note
            )

    if probe is not None:
        found = _probe_common_hosts(domain, probe)
        if found is not None:
            return ProviderPreset(
                name=domain,
                incoming=found,
                outgoing=ServerEndpoint(guess_outgoing_host(found.host), 465, Security.SSL),
                username=address,
                note=(
                    f"A POP3 server answered at {found.host}. The outgoing server is a guess; "
                    "“Test & save” will check it."
                ),
            )
    return _guess(domain, address, probed=probe is not None)


def _probe_common_hosts(domain: str, probe: Probe) -> ServerEndpoint | None:
    for prefix in ("pop", "pop3", "mail"):
        host = f"{prefix}.{domain}"
        for security in (Security.SSL, Security.STARTTLS):
            port = DEFAULT_POP3_PORTS[security]
            try:
                answered = probe(host, port, security)
            except Exception:  # a probe failing in any way just means "not here"
                answered = False
            if answered:
                return ServerEndpoint(host, port, security)
    return None


def _guess(domain: str, address: str, *, probed: bool) -> ProviderPreset:
    incoming = ServerEndpoint(f"pop.{domain}", 995, Security.SSL)
    outgoing = ServerEndpoint(f"smtp.{domain}", 465, Security.SSL)
    why = (
        f"no server answered at pop.{domain}, pop3.{domain} or mail.{domain}"
        if probed
        else f"no POP3 server was found in the DNS records of {domain}"
    )
    return ProviderPreset(
        name=domain,
        incoming=incoming,
        outgoing=outgoing,
        username=address,
        guessed=True,
        note=(
            f"These servers are a guess ({why}): check them with your provider or "
            "administrator. “Test & save” checks them before anything is saved."
        ),
    )

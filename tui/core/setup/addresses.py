"""Is this a server name, or an email address, that a POP3/SMTP account can use?

Practical checks with a sentence for each failure: letters, digits and hyphens in DNS names
(international names through IDNA), IP addresses, and addresses of the form name@example.com.
"""

from __future__ import annotations

import ipaddress
import re

from tui.core.text import has_unsafe, quoted

MAX_EMAIL_LENGTH = 254
"""RFC 5321 limits a path to 256 octets including the angle brackets."""
MAX_LOCAL_PART_LENGTH = 64
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63

_LDH_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")
# Characters that need quoting in a local part; a practical check refuses them outright.
_LOCAL_SPECIALS = frozenset('()<>[]\\,;:"')


def _blank_or_unsafe(text: str, *, what: str, example: str) -> str | None:
    """The checks every field shares: not empty, no control characters, no spaces."""
    if not text.strip():
        return f"Enter {example}."
    if has_unsafe(text):
        return f"The {what} cannot contain control characters."
    if any(char.isspace() for char in text):
        return f"The {what} cannot contain spaces."
    return None


def _validate_dns_name(host: str, *, what: str) -> str | None:
    """Check a DNS name made of IDNA-encodable labels; `what` is "server name" or "domain"."""
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if any(not label for label in labels):
        return f"The {what} {quoted(host)} has an empty part between dots."
    ascii_labels: list[str] = []
    for label in labels:
        if label.isascii():
            ascii_label = label.lower()
            if len(ascii_label) > MAX_LABEL_LENGTH:
                return (
                    f"Each part of the {what} between dots may have at most "
                    f"{MAX_LABEL_LENGTH} characters; {quoted(label)} has {len(label)}."
                )
        else:
            try:
                ascii_label = label.encode("idna").decode("ascii")
            except UnicodeError:
                ascii_label = "xn--" + label.lower().encode("punycode").decode("ascii")
                if len(ascii_label) <= MAX_LABEL_LENGTH:
                    return f"{quoted(label)} in the {what} is not a valid international name."
            if len(ascii_label) > MAX_LABEL_LENGTH:
                return (
                    f"The part {quoted(label)} of the {what} is too long once encoded for DNS "
                    f"(at most {MAX_LABEL_LENGTH} characters)."
                )
        if not _LDH_LABEL.match(ascii_label):
            if ascii_label.startswith("-") or ascii_label.endswith("-"):
                return f"A part of the {what} cannot start or end with a hyphen: {quoted(label)}."
            return (
                f"The {what} may contain only letters, digits, hyphens and dots; "
                f"{quoted(label)} has other characters."
            )
        ascii_labels.append(ascii_label)
    if len(".".join(ascii_labels)) > MAX_HOST_LENGTH:
        return f"The {what} is too long (at most {MAX_HOST_LENGTH} characters)."
    if len(ascii_labels) > 1 and ascii_labels[-1].isdigit():
        return f"The last part of the {what} {quoted(host)} cannot be only digits."
    return None


def validate_host(host: str) -> str | None:
    """A server name (letters, digits, hyphens; international names allowed) or an IP address."""
    problem = _blank_or_unsafe(
        host, what="server name", example="the server name, e.g. pop.example.com"
    )
    if problem is not None:
        return problem
    if "://" in host:
        scheme = host.split("://", 1)[0]
        return f"Enter only the server name, without {quoted(scheme + '://')}."
    if "@" in host:
        return "That looks like an email address; enter the server name, e.g. pop.example.com."
    if host.startswith("[") and host.endswith("]"):
        return "Enter the IPv6 address without the square brackets."
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            if host.count(":") == 1 and host.rsplit(":", 1)[1].isdigit():
                return "Put the port in the Port field, not after the server name."
            return f"{quoted(host)} is not a valid IPv6 address."
        return None
    if all(part.isascii() and part.isdigit() for part in host.split(".")):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{quoted(host)} is not a valid IPv4 address."
        return None
    return _validate_dns_name(host, what="server name")


def validate_email(address: str) -> str | None:
    """A practical address check: one @, a sensible local part, a domain with a dot.

    International domains (IDNA) and UTF-8 local parts are accepted; quoted local parts and IP
    literals are not, as no POP3 provider hands those out.
    """
    problem = _blank_or_unsafe(
        address,
        what="email address",
        example="the email address of the mailbox, e.g. name@example.com",
    )
    if problem is not None:
        return problem
    if len(address) > MAX_EMAIL_LENGTH:
        return f"The email address is too long (at most {MAX_EMAIL_LENGTH} characters)."
    at_signs = address.count("@")
    if at_signs == 0:
        return "The email address needs an @, as in name@example.com."
    if at_signs > 1:
        return "The email address may contain only one @."
    local, domain = address.split("@")
    if not local:
        return "Add the part before the @, as in name@example.com."
    if not domain:
        return "Add the domain after the @, as in name@example.com."
    if len(local.encode("utf-8")) > MAX_LOCAL_PART_LENGTH:
        return f"The part before the @ is too long (at most {MAX_LOCAL_PART_LENGTH} characters)."
    bad = sorted({char for char in local if char in _LOCAL_SPECIALS})
    if bad:
        return f"The part before the @ cannot contain {' '.join(bad)}."
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "The part before the @ cannot start or end with a dot or have two dots in a row."
    if domain.startswith("[") or domain.replace(".", "").isdigit():
        return "Use a domain name after the @, not an IP address."
    if "." not in domain.rstrip("."):
        return f"The domain {quoted(domain)} needs a dot, as in example.com."
    return _validate_dns_name(domain, what="domain")

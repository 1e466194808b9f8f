"""The one place an import's plan or outcome is put into words, for the CLI and the Import
screen alike. Every line is cleaned: names, hosts and paths come from files a stranger may
have written."""

from __future__ import annotations

from tui.core.imports.apply import AccountOutcome, ImportOutcome
from tui.core.imports.found import FoundAccount
from tui.core.text import clean, one_line


def _server(found: FoundAccount) -> str:
    s = found.settings
    return (
        f"{one_line(s.username, 80)} at {one_line(s.incoming_host, 80)}:{s.incoming_port} "
        f"({s.incoming_security.label}); {s.delete_policy.label.lower()}"
        + (f" ({s.delete_after_days} days)" if s.delete_policy.value == "after_days" else "")
    )


def _account_lines(result: AccountOutcome, dry_run: bool) -> list[str]:
    found = result.found
    if result.duplicate_of:
        return [f"= {one_line(found.where)}: the same server and user as {result.duplicate_of}"]
    if result.exists:
        verb = "exists already: left as it is" if not dry_run else "exists already: would be left"
    else:
        verb = "would be created" if dry_run else "created"
    lines = [f"+ {result.name}: {verb}", f"    {_server(found)}", f"    from {found.where}"]
    lines += [f"    WARNING: {line}" for line in found.warnings]
    s = found.settings
    limits = []
    if s.max_messages_per_fetch:
        limits.append(f"at most {s.max_messages_per_fetch} messages per fetch")
    if s.max_message_bytes:
        limits.append(f"messages over {s.max_message_bytes} bytes left on the server")
    if s.pinned_fingerprint:
        limits.append("certificate pinned")
    if limits:
        lines.append(f"    {', '.join(limits)}")
    if found.password is not None and not result.exists:
        stored = "would go" if dry_run else "went"
        lines.append(
            f"    password: clear text in {found.password_file}; {stored} to the secret store"
        )
    elif found.password is None and not result.exists:
        lines.append("    password: none found; set it with `poptui password set` or the form")
    if found.state_file:
        new = len(result.new_uidls)
        lines.append(
            f"    already fetched: {len(found.uidls)} UIDLs in {found.state_file} "
            f"({new} {'to file' if dry_run else 'filed'}): those messages are never fetched again"
        )
    lines += [f"    {line}" for line in found.mapped]
    if found.unmapped:
        lines.append("    could not be mapped:")
        lines += [f"      - {line}" for line in found.unmapped]
    return lines


def outcome_lines(outcome: ImportOutcome) -> list[str]:
    """The whole report: files read, each account, what was left out, warnings, a summary."""
    plan = outcome.plan
    lines = [f"{plan.peer.value}: read {', '.join(plan.files) or 'nothing'}"]
    for result in outcome.accounts:
        lines += _account_lines(result, outcome.dry_run)
    for found in plan.accounts:
        if found.not_imported:
            name = one_line(found.settings.name or found.settings.incoming_host, 60)
            lines.append(f"- {name} ({found.where}): not imported: {found.not_imported}")
    lines += [f"WARNING: {warning}" for warning in plan.warnings]
    created, added = len(outcome.created), outcome.uidls_added
    if outcome.dry_run:
        lines.append(
            f"Dry run: would create {created} mailboxes, store {outcome.passwords_stored} "
            f"passwords and file {added} already-fetched UIDLs; nothing was changed."
        )
    else:
        lines.append(
            f"Created {created} mailboxes, stored {outcome.passwords_stored} passwords, "
            f"filed {added} already-fetched UIDLs."
        )
    return [clean(line) for line in lines]

"""The last check before DELE: is this server message one we durably hold?

Whatever the plan decided, each message about to be deleted is checked again against the rows
committed for this account: the stored key must stand for the UIDL the server lists for that
number, and the stored size must be the listed size (or the listed size counted with bare LF
line ends, as some servers do). A renumbered mailbox, a listing that changed, swapped UIDLs or a
size that disagrees therefore cannot aim a DELE at a message poptui does not hold; nor can a
message whose bytes are gone from its segment file since (`storage.source_files`).
"""

from __future__ import annotations

from typing import Any

from tui.core.storage.models import Account, Message, database_proxy
from tui.core.storage.source_files import held_sources
from tui.core.sync.plan import ServerListing, base_uidl, size_fits


def confirm_stored(
    account: Account, listing: ServerListing, doomed: dict[int, int]
) -> dict[int, int]:
    """The part of `doomed` (server number → stored id) that really is stored as listed."""
    if not doomed:
        return {}
    ids = sorted(set(doomed.values()))
    rows: dict[int, tuple[str, int]] = {}
    for start in range(0, len(ids), 500):
        query: Any = (
            Message.select(Message.id, Message.uidl, Message.size)
            .where(
                (Message.account == account)
                & Message.id.in_(ids[start : start + 500])
                & ~Message.deleted_on_server
            )
            .tuples()
        )
        rows.update({mid: (key, size) for mid, key, size in query})
    confirmed: dict[int, int] = {}
    for number, message_id in doomed.items():
        row = rows.get(message_id)
        uidl = listing.uidls.get(number)
        listed = listing.sizes.get(number)
        if row is None or uidl is None or listed is None or base_uidl(row[0]) != uidl:
            continue
        if size_fits(message_id, row[1], listed):
            confirmed[number] = message_id
    held = held_sources(database_proxy.obj, sorted(set(confirmed.values())))
    confirmed = {n: m for n, m in confirmed.items() if m in held}  # its bytes are really here
    if len(set(confirmed.values())) != len(confirmed):
        # Two server messages aimed at one stored copy: the listing lies somewhere.
        counts: dict[int, int] = {}
        for message_id in confirmed.values():
            counts[message_id] = counts.get(message_id, 0) + 1
        confirmed = {n: m for n, m in confirmed.items() if counts[m] == 1}
    return confirmed

"""Planning's shortcuts for the usual "nothing new" case decide exactly as the full checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from tui.core.storage.models import Account
from tui.core.sync.plan import KnownUidls, ServerListing, keyed, plan_sync, reused_uidls

ACCOUNT = cast(Account, SimpleNamespace(max_message_bytes=0, max_messages_per_fetch=0))


def listing_of(uidls: list[str]) -> ServerListing:
    return ServerListing(
        uidls={n: u for n, u in enumerate(uidls, 1)},
        sizes={n: 100 for n in range(1, len(uidls) + 1)},
    )


def known_of(keys: list[str], *, still: bool = True) -> KnownUidls:
    known = KnownUidls()
    for number, key in enumerate(keys, 1):
        known[key] = (number, still)
        known.sizes[key] = 100
    return known


def test_every_uidl_changed_is_a_reset() -> None:
    old = [f"old-{n}" for n in range(12)]
    plan = plan_sync(ACCOUNT, listing_of([f"new-{n}" for n in range(12)]), known_of(old))
    assert plan.reset_suspected


def test_one_uidl_still_listed_is_no_reset_even_under_a_digest_key() -> None:
    old = [f"old-{n}" for n in range(12)]
    listed = [f"new-{n}" for n in range(11)]
    assert not plan_sync(ACCOUNT, listing_of([*listed, "old-3"]), known_of(old)).reset_suspected
    # Only a digest key (`keyed`) remembers old-3: its UIDL is the part before the space.
    keys = [*old[:3], keyed("old-3", b"x"), *old[4:]]
    assert not plan_sync(ACCOUNT, listing_of([*listed, "old-3"]), known_of(keys)).reset_suspected


def test_too_few_expected_or_gone_ones_are_no_reset() -> None:
    listed = listing_of([f"new-{n}" for n in range(12)])
    assert not plan_sync(ACCOUNT, listed, known_of([f"old-{n}" for n in range(9)])).reset_suspected
    gone = known_of([f"old-{n}" for n in range(12)], still=False)
    assert not plan_sync(ACCOUNT, listed, gone).reset_suspected


def test_nothing_new_plans_nothing() -> None:
    uidls = [f"u-{n}" for n in range(50)]
    plan = plan_sync(ACCOUNT, listing_of(uidls), known_of(uidls))
    assert plan.to_fetch == [] and not plan.reset_suspected and plan.ambiguous == set()


def test_duplicates_are_found_after_the_shortcut() -> None:
    assert listing_of(["a", "b", "c"]).duplicates() == set()
    assert listing_of(["a", "b", "a", "c", "b"]).duplicates() == {"a", "b"}


def test_reused_uidls_are_worked_out_per_listing() -> None:
    known = known_of(["a", "b"])
    known.sizes["b"] = 50  # stored smaller than listed: cannot be the listed message
    first = listing_of(["a", "b"])
    assert reused_uidls(first, known) == {"b"}
    assert reused_uidls(first, known) == {"b"}
    other = ServerListing(uidls={1: "a", 2: "b"}, sizes={1: 200, 2: 50})
    assert reused_uidls(other, known) == {"a"}

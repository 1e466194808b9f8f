"""When a change of the incoming server may refill the outgoing one (POP-only setups)."""

from __future__ import annotations

from tui.core.setup.form_rules import outgoing_follows_incoming


def test_an_empty_outgoing_server_is_not_configured_and_never_follows() -> None:
    assert not outgoing_follows_incoming("", None)
    assert not outgoing_follows_incoming("", "smtp.example.net")  # filled, then cleared
    assert not outgoing_follows_incoming("  ", "  ")


def test_only_a_server_the_form_filled_follows() -> None:
    assert outgoing_follows_incoming("smtp.example.net", "smtp.example.net")
    assert not outgoing_follows_incoming("smtp.example.net", None)  # saved or typed
    assert not outgoing_follows_incoming("mail.example.net", "smtp.example.net")  # typed over

"""The account form refuses a name that is not one visible line, beside the name field."""

from __future__ import annotations

import pytest

from tests.ui.conftest import AppFactory, FakeTester, replace_text, store
from tests.ui.test_account_form import fill_basic_form, open_add_form, text_of


@pytest.mark.parametrize("name", ["Work\u2028Home", "Wo\u00adrk", "Work\u202e"])
async def test_the_form_shows_why_a_name_is_refused(
    app_factory: AppFactory, tester: FakeTester, name: str
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await open_add_form(pilot)
        await fill_basic_form(pilot)
        await replace_text(pilot, "#name", name)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert "cannot contain control characters" in text_of(app, "#name-message")
        assert tester.calls == []
        assert store().list() == []

"""A user's key/value settings (the `setting` table): read one, or replace it.

The store choice, the OAuth2 client id and the like each keep one row per (owner, key);
writing goes through `save_setting` so every caller replaces a row the same way.
"""

from __future__ import annotations

from tui.core.storage.models import Setting


def read_setting(owner: str, key: str) -> str | None:
    """The value `owner` saved under `key`, or None when there is none."""
    row = Setting.get_or_none((Setting.owner == owner) & (Setting.key == key))
    return None if row is None else str(row.value)


def save_setting(owner: str, key: str, value: str) -> None:
    """Set `owner`'s `key` to `value`, replacing any earlier value."""
    updated = (
        Setting.update(value=value).where((Setting.owner == owner) & (Setting.key == key)).execute()
    )
    if not updated:
        Setting.create(owner=owner, key=key, value=value)

"""A checkbox and a radio button whose mark is blank when off, used by every form, and a radio
set of them that is read and set as one choice.

Textual draws the same X / ● either way and only the colour differs, which a 16-colour
terminal or a colour-blind user may not see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Generic, TypeVar

from textual.content import ContentText
from textual.widgets import Checkbox, RadioButton, RadioSet

_Choice = TypeVar("_Choice")


class _MarkShowsValue:
    """Mixin for toggle buttons: the mark itself says on or off."""

    ON_MARK = "X"
    BUTTON_INNER: str
    value: bool

    def _show_mark(self) -> None:
        self.BUTTON_INNER = self.ON_MARK if self.value else " "


class MarkedCheckbox(_MarkShowsValue, Checkbox):
    """A `Checkbox` showing X when on and a blank when off."""

    def on_mount(self) -> None:
        self._show_mark()

    def watch_value(self) -> None:
        self._show_mark()
        super().watch_value()


class MarkedRadioButton(_MarkShowsValue, RadioButton):
    """A `RadioButton` showing ● when on and a blank when off."""

    ON_MARK = "●"

    def on_mount(self) -> None:
        self._show_mark()

    def watch_value(self) -> None:
        self._show_mark()
        super().watch_value()


def pressed_choice(
    radio_set: RadioSet,
    choices: Iterable[_Choice],
    button_id: Callable[[_Choice], str],
    default: _Choice,
) -> _Choice:
    """The choice whose button (named by `button_id`) is pressed in `radio_set`, else `default`."""
    pressed = radio_set.pressed_button
    if pressed is not None:
        for choice in choices:
            if pressed.id == button_id(choice):
                return choice
    return default


class ChoiceRadioSet(RadioSet, Generic[_Choice]):
    """One `MarkedRadioButton` per choice, read (`chosen`) and set (`choose`) as a choice rather
    than through button ids; each button's id is still `button_id(choice)`, for clicks and tests."""

    def __init__(
        self,
        labels: Mapping[_Choice, ContentText],
        button_id: Callable[[_Choice], str],
        *,
        default: _Choice,
        chosen: _Choice | None = None,
        compact_buttons: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(
            *(
                MarkedRadioButton(
                    label, choice == chosen, id=button_id(choice), compact=compact_buttons
                )
                for choice, label in labels.items()
            ),
            id=id,
            compact=True,
        )
        self._choices = tuple(labels)
        self._button_id = button_id
        self._default = default
        """What `chosen` says while no button is pressed."""

    @property
    def chosen(self) -> _Choice:
        return pressed_choice(self, self._choices, self._button_id, self._default)

    def choose(self, choice: _Choice) -> None:
        self.query_one(f"#{self._button_id(choice)}", RadioButton).value = True

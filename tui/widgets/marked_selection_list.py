"""A selection list whose tick is drawn only when an option is selected.

Textual draws the same X either way and only the colour differs, which a 16-colour terminal or
a colour-blind user may not see (like `MarkedCheckbox` on the account form).
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets.selection_list import SelectionType


class MarkedSelectionList(SelectionList[SelectionType]):
    """A `SelectionList` whose tick is blank when off."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        index = self.scroll_offset.y + y
        if index >= self.option_count:
            return strip
        if self.get_option_at_index(index).value in self.selected:
            return strip
        segments = list(strip)
        if len(segments) > 3 and segments[1].cell_length == 1:  # left side, tick, right side
            segments[1] = Segment(" ", segments[1].style)
        return Strip(segments, strip.cell_length)

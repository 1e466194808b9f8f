"""The device sign-in's verification address as a QR code drawn with text, so a phone can open
it from any terminal (over SSH too). Drawn with half blocks: one line of text holds two rows
of modules. Light modules are the blocks (a terminal's text is light on dark), so the code
reads as dark-on-light to a camera, quiet zone included.

Nothing a server sent is drawn unless it is an https (or loopback http) address of printable
ASCII: `verified_address` refuses the rest. segno (pure Python, no dependencies) builds the
matrix; it is imported only when a code is drawn.
"""

from __future__ import annotations

from tui.core.oauth.errors import SignInFailed
from tui.core.oauth.providers import endpoint_problem
from tui.core.text import one_line

MAX_ADDRESS = 400
QUIET_ZONE = 2
"""Modules of light border around the code; 4 is the standard's, 2 reads with every phone
camera tried and keeps the code small enough for a 24-line terminal more often."""

Matrix = list[list[bool]]
"""Rows of modules, True = dark, quiet zone included."""


def verified_address(address: str, what: str = "verification address") -> str:
    """`address` when it is safe to show and to encode; `SignInFailed` otherwise (a provider
    sending escapes, a non-https address or an absurdly long one is refused, not shown)."""
    problem = endpoint_problem(address, what)
    if not problem and len(address) > MAX_ADDRESS:
        problem = f"The {what} is longer than {MAX_ADDRESS} characters."
    if problem:
        shown = one_line(address, 80)
        raise SignInFailed(
            f"The provider sent a {what} poptui will not show ({problem}) "
            f"It began: {shown!r}. Nothing was signed in.",
            hint="Check the account's device URL: it may not be the provider's.",
        )
    return address


def qr_matrix(address: str) -> Matrix:
    """The QR code's modules for `address` (which must be `verified_address`)."""
    import segno

    code = segno.make(address, error="l", micro=False)
    return [[bool(module) for module in row] for row in code.matrix_iter(border=QUIET_ZONE)]


_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
"""(top light, bottom light) -> the character that draws them."""


def half_blocks(matrix: Matrix) -> list[str]:
    """Two rows of modules per line of text; light modules drawn, dark ones left blank."""
    lines = []
    width = len(matrix[0]) if matrix else 0
    for top in range(0, len(matrix), 2):
        upper = matrix[top]
        lower = matrix[top + 1] if top + 1 < len(matrix) else [True] * width
        lines.append("".join(_BLOCKS[(not a, not b)] for a, b in zip(upper, lower, strict=True)))
    return lines


def qr_lines(address: str, *, width: int, height: int) -> list[str]:
    """The code for `address` as lines of text, or [] when it does not fit width x height."""
    matrix = qr_matrix(address)
    lines = half_blocks(matrix)
    if not lines or len(lines[0]) > width or len(lines) > height:
        return []
    return lines

"""Where each peer keeps its setup, as the peer itself looks for it: what the Import screen lists
and what `poptui import PEER` reads when no path is given."""

from __future__ import annotations

import os
from pathlib import Path

from tui.core.imports import fetchmail, getmail, mpop, thunderbird
from tui.core.imports.files import shown
from tui.core.imports.found import ImportFailed, ImportPlan, Peer


def _xdg_config() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def candidates(peer: Peer) -> list[Path]:
    """The usual places, in the peer's own order of preference."""
    home = Path.home()
    if peer is Peer.FETCHMAIL:
        base = Path(os.environ["FETCHMAILHOME"]) if os.environ.get("FETCHMAILHOME") else home
        return [base / ".fetchmailrc"]
    if peer is Peer.GETMAIL:
        return [_xdg_config() / "getmail", home / ".getmail"]
    if peer is Peer.MPOP:
        return [home / ".mpoprc", _xdg_config() / "mpop" / "config"]
    return thunderbird.profiles(home / ".thunderbird")


def found_setups() -> list[tuple[Peer, Path]]:
    """Every setup present in the usual places (a getmail directory counts once, as getmail
    reads only the first of its two)."""
    found: list[tuple[Peer, Path]] = []
    for peer in Peer:
        present = [p for p in candidates(peer) if p.exists() or p.is_symlink()]
        if peer in (Peer.GETMAIL, Peer.FETCHMAIL):
            present = present[:1]
        found += [(peer, path) for path in present]
    return found


def default_path(peer: Peer) -> Path:
    """The setup `poptui import PEER` reads without a PATH: the first usual place present."""
    for path in candidates(peer):
        if path.exists() or path.is_symlink():
            return path
    places = ", ".join(shown(p) for p in candidates(peer)) or "~/.thunderbird/*/prefs.js"
    raise ImportFailed(
        f"No {peer.value} setup found (looked at {places})",
        hint=f"Give its path: poptui import {peer.value} PATH",
    )


PLANNERS = {
    Peer.FETCHMAIL: fetchmail.plan,
    Peer.GETMAIL: getmail.plan,
    Peer.MPOP: mpop.plan,
    Peer.THUNDERBIRD: thunderbird.plan,
}


def plan_import(peer: Peer, path: Path | None = None) -> ImportPlan:
    """What importing `peer`'s setup at `path` (default: the usual place) would create.

    Reads files only: nothing is created, no command is run, no server is contacted."""
    return PLANNERS[peer](path if path is not None else default_path(peer))

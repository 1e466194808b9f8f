"""The tables and the target checks of bench/fetch_speed.py, as Markdown."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

HEADER = (
    "# Fetch speed: poptui, the practical limit and its peers\n\n"
    "Written by `bench/fetch_speed.py` (its docstring says what each contender does). "
    "The machine has 2 cores and was shared with other work while this ran: "
    "read the ratios (taken in the same interleaved rounds) rather than the absolute times.\n\n"
)

Check = tuple[str, bool, str]


def fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def ratio(a: float, b: float) -> str:
    return "n/a" if a != a or b != b or b == 0 else f"{a / b:.2f}x"


def _check(name: str, ok: bool, detail: str) -> Check:
    return name, ok, detail


def _others(res: Any, section: str, tools: list[str], modes: list[str]) -> str:
    """The figures beside the headline: anonymous PSS / sum of RSS / wait4's ru_maxrss."""
    figures = (
        max((res.memory(section, t, m, of) for t in tools for m in modes), default=float("nan"))
        for of in ("anon_mb", "rss_sum_mb", "maxrss_mb")
    )
    return " / ".join(fmt(x, 1) for x in figures)


def build(
    res: Any,
    args: argparse.Namespace,
    wire: int,
    versions: dict[str, str],
    started: dt.datetime,
    elapsed: float,
    loads: list[float],
    tools: list[str],
) -> tuple[str, list[Check]]:
    """The report and the issue's targets; `tools[0]` is the limit, `tools[1]` fetchmail's
    cheapest delivery, and "poptui" is among them."""
    n, modes = args.messages, args.modes
    limit, bsmtp = tools[0], tools[1]
    versions = dict(versions)
    out = [
        f"Run {started:%Y-%m-%d %H:%M} UTC, {elapsed / 60:.1f} min: "
        f"`bench/fetch_speed.py {' '.join(sys.argv[1:])}`",
        "",
        f"- Machine: {versions.pop('machine')}; load average (1 min) at the start, after the "
        "full fetches, after the other sections: " + ", ".join(f"{x:.1f}" for x in loads),
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- Corpus: {n:,} messages, {wire / 1e6:.1f} MB as served (bench/corpus.py, seed "
        f"{args.seed}: 2-8 KB text in five charsets, 10 % HTML alternatives, 3 % with a "
        "0.5-3 MB attachment) in a private Dovecot on 127.0.0.1; TLS with a self-signed "
        "certificate that every tool verifies or pins.",
        f"- Method: medians of {args.repeat} interleaved round(s), the order rotated each round; "
        "wall time from spawn to exit; peak memory is the largest of a tool's runs, of its whole "
        "process tree: the sum of PSS over the tool and every process it forks, sampled every "
        "5-20 ms from /proc (bench/tree_memory.py), with its anonymous part (PSS of file pages, "
        "the interpreter and libraries, is divided with other processes mapping them), the "
        "sum of RSS and wait4()'s ru_maxrss (the largest single process, the figure used "
        "before) beside it. Each run is checked "
        "to have stored every message (byte for byte for poptui, the poplib "
        f'loop and the limit). "Nothing new": median of {args.nothing_new} runs on the store '
        "the tool's last full fetch left.",
        "",
        '## Full fetch and "nothing new"',
        "",
        "| tool | stored as | "
        + " | ".join(f"{m} s | {m} vs limit" for m in modes)
        + " | "
        + " | ".join(f"nothing new, {m} s" for m in modes)
        + " | peak memory MB (tree PSS) | anonymous PSS / RSS sum / ru_maxrss MB |",
        "|---|---|" + "---|---|" * len(modes) + "---|" * len(modes) + "---|---|",
    ]
    for tool in tools:
        cells = []
        for mode in modes:
            wall = res.wall("full", tool, mode)
            cells += [fmt(wall), ratio(wall, res.wall("full", limit, mode))]
        cells += [fmt(res.wall("again", tool, mode), 3) for mode in modes]
        peak = max((res.memory("full", tool, m) for m in modes), default=float("nan"))
        cells += [fmt(peak, 1), _others(res, "full", [tool], modes)]
        stored = res.stored_as.get(tool, "")
        out.append(f"| {tool} | {stored} | " + " | ".join(cells) + " |")

    checks: list[Check] = []
    for mode in modes:
        p, lim, fm = (res.wall("full", t, mode) for t in ("poptui", limit, bsmtp))
        checks.append(_check(f"{mode}: full fetch ≤ 1.5x the limit", p <= 1.5 * lim, ratio(p, lim)))
        checks.append(_check(f"{mode}: full fetch ahead of {bsmtp}", p < fm, ratio(p, fm)))
        pn, fn = res.wall("again", "poptui", mode), res.wall("again", bsmtp, mode)
        checks.append(
            _check(
                f"{mode}: nothing new ≤ 2x {bsmtp}",
                pn <= 2 * fn,
                f"{pn:.3f} s vs {fn:.3f} s = {ratio(pn, fn)}",
            )
        )
        peak = res.memory("full", "poptui", mode)
        checks.append(
            _check(
                f"{mode}: peak memory (tree PSS) under 60 MB at {n:,} messages",
                peak < 60,
                f"{peak:.1f} MB",
            )
        )

    pass_, version = (res.wall("startup", c, "-") for c in ("python -c pass", "poptui --version"))
    checks.append(
        _check(
            "`poptui --version` ≤ 2x `python -c pass` + 30 ms",
            version <= 2 * pass_ + 0.030,
            f"{version * 1000:.0f} ms vs {pass_ * 1000:.0f} ms",
        )
    )
    out += ["", "## Start-up", "", "| command | wall ms (median) |", "|---|---|"]
    out += [
        f"| `{c}` | {fmt(res.wall('startup', c, '-') * 1000, 0)} |"
        for c in ("python -c pass", "poptui --version")
    ]

    if args.linearity > 1:
        big_n = n * args.linearity
        small, big = (
            res.wall("linearity", "poptui", str(n)),
            res.wall("linearity", "poptui", str(big_n)),
        )
        rss_small, rss_big = (
            res.memory("linearity", "poptui", str(n)),
            res.memory("linearity", "poptui", str(big_n)),
        )
        out += [
            "",
            "## Linearity (poptui, plain, interleaved)",
            "",
            "| messages | wall s | peak memory MB (tree PSS) "
            "| anonymous PSS / RSS sum / ru_maxrss MB |",
            "|---|---|---|---|",
            f"| {n:,} | {fmt(small)} | {fmt(rss_small, 1)} "
            f"| {_others(res, 'linearity', ['poptui'], [str(n)])} |",
            f"| {big_n:,} | {fmt(big)} | {fmt(rss_big, 1)} "
            f"| {_others(res, 'linearity', ['poptui'], [str(big_n)])} |",
        ]
        allowed = args.linearity * 1.05
        checks.append(
            _check(
                f"{big_n:,} messages ≤ {allowed:.1f}x the {n:,} figure",
                big <= allowed * small,
                ratio(big, small),
            )
        )
        checks.append(
            _check(
                f"peak memory (tree PSS) under 60 MB at {big_n:,} messages",
                rss_big < 60,
                f"{rss_big:.1f} MB",
            )
        )
    if args.rss_messages:
        label = str(args.rss_messages)
        rss = res.memory("rss", "poptui", label)
        wall = res.wall("rss", "poptui", label)
        out += [
            "",
            f"Peak memory of poptui at {args.rss_messages:,} messages, whole process tree: "
            f"{fmt(rss, 1)} MB PSS (anonymous / RSS sum / ru_maxrss "
            f"{_others(res, 'rss', ['poptui'], [label])} MB; {fmt(wall)} s).",
        ]
        checks.append(
            _check(
                f"peak memory (tree PSS) under 60 MB at {args.rss_messages:,} messages",
                rss < 60,
                f"{rss:.1f} MB",
            )
        )

    if not args.no_postgres:
        from postgres_poptui import LimitIntoPostgres

        sqlite, postgres = "poptui into SQLite", "poptui into PostgreSQL"
        limit = LimitIntoPostgres.name
        sq, pg, lim = (res.wall("postgres", t, "plain") for t in (sqlite, postgres, limit))
        out += [
            "",
            "## PostgreSQL (team database, row-level security) against SQLite, plain",
            "",
            "| into | wall s | vs poptui into SQLite | peak memory MB (tree PSS) |",
            "|---|---|---|---|",
            f"| SQLite, poptui | {fmt(sq)} | 1.00x "
            f"| {fmt(res.memory('postgres', sqlite, 'plain'), 1)} |",
            f"| PostgreSQL, poptui | {fmt(pg)} | {ratio(pg, sq)} "
            f"| {fmt(res.memory('postgres', postgres, 'plain'), 1)} |",
            f"| PostgreSQL, {limit} | {fmt(lim)} | {ratio(lim, sq)} "
            f"| {fmt(res.memory('postgres', limit, 'plain'), 1)} |",
            "",
            "The last row is what a client that does nothing but store the bytes (no headers, "
            "no index, no row-level security) reaches into the same server on the same cores.",
        ]
        checks.append(_check("PostgreSQL fetch ≤ 1.3x SQLite", pg <= 1.3 * sq, ratio(pg, sq)))

    if args.popa3d_messages:
        names = ("poptui", bsmtp, "poplib loop")
        walls = {t: res.wall("popa3d", t, "plain") for t in names}
        out += [
            "",
            f"## popa3d (no CAPA, no pipelining), {args.popa3d_messages} messages, plain",
            "",
            "| tool | wall s | vs fetchmail |",
            "|---|---|---|",
        ]
        out += [f"| {t} | {fmt(walls[t])} | {ratio(walls[t], walls[bsmtp])} |" for t in names]
        checks.append(
            _check(
                f"popa3d, {args.popa3d_messages} messages: ≤ 1/3 of fetchmail's time",
                walls["poptui"] <= walls[bsmtp] / 3,
                ratio(walls["poptui"], walls[bsmtp]),
            )
        )

    out += ["", "## Targets (issue #11)", "", "| target | met | figure |", "|---|---|---|"]
    out += [f"| {name} | {'yes' if ok else '**no**'} | {detail} |" for name, ok, detail in checks]
    if res.failures:
        out += ["", "## Failed runs (left out of the medians)", ""]
        out += [f"- {failure}" for failure in res.failures]
    return "\n".join(out) + "\n", checks

"""`poptui` and `python -m tui`: the app without a command, headless subcommands otherwise."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        # Asked by scripts and packagers: answered without argparse or any of poptui's rooms.
        from tui import __version__

        print(f"poptui {__version__}")
        sys.exit(0)
    from tui import cli

    cli.exit_with(cli.main())


if __name__ == "__main__":
    main()

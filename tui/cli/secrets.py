"""`poptui secrets show|use …`: where this user's passwords are kept (never the passwords)."""

from __future__ import annotations

from tui.cli.console import EXIT_OK, CommandFailed, ask_passphrase
from tui.cli.context import CommandContext
from tui.core.text import clean


def run(context: CommandContext) -> int:
    """Run `poptui secrets VERB`."""
    return use(context) if context.args.verb == "use" else show(context)


def show(context: CommandContext) -> int:
    from tui.core.secrets.setup import saved_store_choice

    console = context.console
    if saved_store_choice() is None:
        console.print("No choice saved: the system keyring is used when it works.")
        console.print("Check it with: poptui doctor")
    else:
        console.print(clean(context.secrets().describe()))
    return EXIT_OK


def use(context: CommandContext) -> int:
    """Save a new choice, but only once the store it names has opened."""
    from tui.core.secrets import SecretKind, StoreChoice, open_store, probe_keyring
    from tui.core.secrets.setup import (
        passphrase_from_environment,
        save_store_choice,
        saved_store_choice,
    )

    args = context.args
    kind = args.store_kind
    if kind == "keyring":
        health = probe_keyring()
        if not health.usable:
            raise CommandFailed(health.advice)
        choice = StoreChoice("keyring")
    elif kind == "file":
        choice = StoreChoice("cryptfile", path=args.path)
    else:
        account = context.accounts.get(args.name)
        which = SecretKind.INCOMING if args.incoming else SecretKind.OUTGOING
        current = saved_store_choice()
        base = current if current is not None and current.kind == "command" else StoreChoice()
        choice = base.with_command(account.secret_key, which, args.command_line)
    handed = passphrase_from_environment()  # a descriptor, a private file or the environment
    context.use_secret_store(open_store(choice, (lambda: handed) if handed else ask_passphrase))
    save_store_choice(choice)
    context.console.print(f"Passwords now kept in: {clean(context.secrets().describe())}")
    return EXIT_OK


def configured_store_name() -> str:
    """The saved store in a few words, for a warning when it could not be opened."""
    from tui.core.secrets import SecretStoreError, default_encrypted_file_path
    from tui.core.secrets.setup import saved_store_choice

    try:
        choice = saved_store_choice()
    except SecretStoreError:
        return "the password store"
    if choice is None or choice.kind == "keyring":
        return "the system keyring"
    if choice.kind == "cryptfile":
        return f"the encrypted file {clean(choice.path or str(default_encrypted_file_path()))}"
    return "the password commands"

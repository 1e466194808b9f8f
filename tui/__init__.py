"""poptui: POP3 mailboxes in the terminal. Importing this package must not import Textual."""

__version__ = "0.1.0"

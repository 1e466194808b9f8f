"""POP3: the client and its errors."""

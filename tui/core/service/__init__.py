"""The fetch service: every mailbox of a user fetched on its own schedule, in the background,
with its heartbeat in the database and a systemd user unit to run it. No Textual here.

Import the modules themselves (`runner`, `scheduler`, `records`, `journal`, `unit`): this face
stays empty so that the app, which reads only `records`, loads nothing else.
"""

"""OAuth2 sign-in: how an account logs in and where it signs in. Endpoints and the client id
only; tokens live in the secret store, never here."""

STATEMENTS = [
    "ALTER TABLE account ADD COLUMN auth_method VARCHAR(16) NOT NULL DEFAULT 'password'",
    "ALTER TABLE account ADD COLUMN oauth_provider VARCHAR(32) NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_client_id VARCHAR(256) NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_client_secret VARCHAR(256) NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_authorize_url TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_token_url TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_device_url TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_scope TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE account ADD COLUMN oauth_token_command TEXT NOT NULL DEFAULT ''",
]

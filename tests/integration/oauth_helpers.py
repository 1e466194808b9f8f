"""Getting tokens from the test authorization server the way a person and a client would."""

from __future__ import annotations

import time

import requests

from tests.servers.oauth_server import CLIENT_ID, OAuthServer

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_token(
    server: OAuthServer, user: str, scope: str = "mail offline_access"
) -> dict[str, str]:
    """A token response for `user`, by the device grant with the test approving at once."""
    issued = requests.post(
        server.device_url, data={"client_id": CLIENT_ID, "scope": scope}, timeout=10
    ).json()
    server.approve_device(issued["user_code"], user)
    for _ in range(50):
        reply = requests.post(
            server.token_url,
            data={
                "grant_type": DEVICE_GRANT,
                "device_code": issued["device_code"],
                "client_id": CLIENT_ID,
            },
            timeout=10,
        )
        if reply.ok:
            token: dict[str, str] = reply.json()
            return token
        time.sleep(server.device_interval)
    raise AssertionError(f"no token: {reply.text}")

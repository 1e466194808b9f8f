"""Setting an account up: checking what the user typed, provider presets and DNS discovery,
and `poptui doctor`'s health checks.

The names below are imported on first use, not with the package: the doctor pulls in the
secret stores, and a caller wanting one validator should not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.core.lazy import lazy_exports

if TYPE_CHECKING:
    from tui.core.setup.addresses import validate_email, validate_host
    from tui.core.setup.discovery import discover
    from tui.core.setup.doctor import Check, run_checks
    from tui.core.setup.providers import (
        ProviderPreset,
        apply_preset,
        hint_for_auth_failure,
        lookup_known,
    )
    from tui.core.setup.validation import Problem, Severity, has_errors, validate_account

__all__ = [
    "Check",
    "Problem",
    "ProviderPreset",
    "Severity",
    "apply_preset",
    "discover",
    "has_errors",
    "hint_for_auth_failure",
    "lookup_known",
    "run_checks",
    "validate_account",
    "validate_email",
    "validate_host",
]

_HOME = {
    "validate_email": "addresses",
    "validate_host": "addresses",
    "discover": "discovery",
    "Check": "doctor",
    "run_checks": "doctor",
    "ProviderPreset": "providers",
    "apply_preset": "providers",
    "hint_for_auth_failure": "providers",
    "lookup_known": "providers",
    "Problem": "validation",
    "Severity": "validation",
    "has_errors": "validation",
    "validate_account": "validation",
}

__getattr__ = lazy_exports(__name__, _HOME)

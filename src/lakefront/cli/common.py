"""Helpers shared by the command modules."""

from __future__ import annotations

from typing import Any

from lakefront.settings import Profile, Settings, load_settings


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit status 2."""


def settings_from_cli(profile: Profile | None = None, **overrides: Any) -> Settings:
    """Load settings, applying CLI flags over environment and lakefront.toml."""
    if profile is not None:
        overrides["profile"] = profile
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    if settings.profile is Profile.aws:
        # Every process of the aws profile starts here (serve, extract, process): read its secrets once.
        from lakefront.data.aws_secrets import resolve_secrets

        return resolve_secrets(settings)
    return settings

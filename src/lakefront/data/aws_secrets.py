"""Secrets Manager at start-up (the aws profile): passwords and tokens are never in an instance's environment.

The CDK app gives each instance the *names* of its secrets (aws.db_secret, aws.cache_secret,
aws.session_secret) and the endpoints; this module reads the secrets once, when the process starts, and
returns settings in which db.writer_url / db.reader_url, cache.redis_url and secret_key are filled in. A
secret rotated later is picked up by the next instance start (Beanstalk's rolling deploy, an ASG refresh).

Any failure is a SettingsError with one line naming the secret: an instance that cannot read its
credentials must not start and serve 500s.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy.engine import URL

from lakefront.settings import Profile, Settings, SettingsError


def _read(client: Any, name: str, *keys: str) -> dict[str, Any]:
    """The secret's JSON object; SettingsError naming it when it cannot be read or lacks a key."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        raw = client.get_secret_value(SecretId=name)["SecretString"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SettingsError(f"cannot read secret {name}: {code}") from None
    except BotoCoreError as exc:
        raise SettingsError(f"cannot read secret {name}: {exc}") from None
    try:
        value = json.loads(raw)
    except ValueError:
        raise SettingsError(f"secret {name} is not a JSON object") from None
    missing = [key for key in keys if not isinstance(value, dict) or key not in value]
    if missing:
        raise SettingsError(f"secret {name} has no {', '.join(missing)}")
    return dict(value)


def database_urls(settings: Settings, creds: dict[str, Any]) -> tuple[str, str]:
    """Writer and reader URLs from RDS's secret: the secret's host is the primary, aws.db_reader_host the replica."""
    query = {"charset": "utf8mb4"}
    if settings.aws.db_ca_file is not None:
        query["ssl_ca"] = str(settings.aws.db_ca_file)

    def url(host: str) -> str:
        return URL.create("mysql+pymysql", username=str(creds["username"]), password=str(creds["password"]),
                          host=host, port=int(creds.get("port") or settings.aws.db_port),
                          database=settings.db.name, query=query).render_as_string(hide_password=False)

    writer = url(str(creds["host"]))
    return writer, url(settings.aws.db_reader_host) if settings.aws.db_reader_host else writer


def with_redis_token(redis_url: str, token: str) -> str:
    """The URL with the AUTH token as its password (ElastiCache's AUTH has no user name)."""
    parts = urlsplit(redis_url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f":{quote(token, safe='')}@{host}"))


def resolve_secrets(settings: Settings, client: Any = None) -> Settings:
    """The settings with every secret the aws profile names read in; other profiles are returned unchanged.

    A value set directly (db.writer_url, a password already in cache.redis_url, secret_key) wins over the
    secret, so an operator can point one instance elsewhere without editing Secrets Manager.
    """
    aws = settings.aws
    if settings.profile is not Profile.aws or not (aws.db_secret or aws.cache_secret or aws.session_secret):
        return settings
    if client is None:
        import boto3

        client = boto3.client("secretsmanager", region_name=aws.region)
    db: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    top: dict[str, Any] = {}
    if aws.db_secret and not settings.db.writer_url:
        db["writer_url"], db["reader_url"] = database_urls(
            settings, _read(client, aws.db_secret, "username", "password", "host"))
    if aws.cache_secret and settings.cache.redis_url and "@" not in settings.cache.redis_url:
        token = str(_read(client, aws.cache_secret, "token")["token"])
        cache["redis_url"] = with_redis_token(settings.cache.redis_url, token)
    if aws.session_secret and settings.secret_key is None:
        top["secret_key"] = str(_read(client, aws.session_secret, "key")["key"])
    data = settings.model_dump()
    data["db"] |= db
    data["cache"] |= cache
    # Validated again: a secret holding a malformed host fails here with the field's name, not at first query.
    try:
        return Settings.model_validate(data | top)
    except ValueError as exc:
        raise SettingsError(f"a secret gave an invalid setting: {str(exc).splitlines()[0]}") from None

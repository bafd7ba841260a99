"""The object store port over an S3 API: SeaweedFS locally, Amazon S3 on AWS.

Errors follow data.objects.base: FileNotFoundError for a missing key, ValueError for a bad key.
Everything else S3 or the network refuses becomes an S3StoreError (an OSError), narrowed so
callers can tell a retry apart from a configuration mistake:

- S3UnavailableError (also a ConnectionError): endpoint unreachable, timed out, or 5xx after retries.
  Transient: worth retrying later.
- S3PermissionError (also a PermissionError): credentials refused or access denied. Terminal.
- S3StoreError itself: anything else (missing bucket, invalid request, missing credentials). Terminal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from lakefront.data.objects.base import ObjectInfo, check_key, content_type_for

_MISSING_KEY = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "Forbidden",
           "ExpiredToken", "InvalidToken", "AllAccessDisabled"}
_BUCKET_EXISTS = {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}


class S3StoreError(OSError):
    """S3 refused a request for a reason other than a missing key; the message names the operation."""


class S3PermissionError(S3StoreError, PermissionError):
    """Credentials refused or access denied."""


class S3UnavailableError(S3StoreError, ConnectionError):
    """The endpoint did not answer usefully (connection, timeout, 5xx after retries): transient."""


def _describe(exc: ClientError) -> tuple[str, int, str]:
    error = exc.response.get("Error", {})
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return str(error.get("Code", "") or status), status, str(error.get("Message", "") or "")


def _translate(exc: Exception, what: str) -> OSError:
    """Map a botocore error to the exception family above (FileNotFoundError for a missing key)."""
    if isinstance(exc, ClientError):
        code, status, message = _describe(exc)
        text = f"S3 {what} failed: {code} (HTTP {status}){': ' + message if message else ''}"
        if code in _MISSING_KEY:
            return FileNotFoundError(text)
        if code in _DENIED or status in (401, 403):
            return S3PermissionError(text)
        if status >= 500:
            return S3UnavailableError(text)
        if code == "NoSuchBucket":
            return S3StoreError(f"{text} (create it with ensure_bucket or `lakefront up`)")
        return S3StoreError(text)
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return S3UnavailableError(f"S3 {what} failed: {exc}")
    return S3StoreError(f"S3 {what} failed: {exc}")


class S3Store:
    """Objects in one private bucket. Thread-safe: one botocore client, created once, shared by all threads."""

    def __init__(self, endpoint_url: str | None, bucket: str, region: str, access_key: str | None,
                 secret_key: str | None, presign_ttl_s: int = 300, *, connect_timeout: float = 3.0,
                 read_timeout: float = 10.0, max_attempts: int = 3, max_pool_connections: int = 32) -> None:
        """`endpoint_url=None` means Amazon S3 in `region`; `access_key=None` means boto3's default chain (IAM role)."""
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.region = region
        self.presign_ttl_s = presign_ttl_s
        config = Config(
            # Path style and SigV4: SeaweedFS has no per-bucket host names, and presigned URLs must verify there too.
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            region_name=region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            # The app tier serves requests from a thread pool; the default pool of 10 would churn connections.
            max_pool_connections=max_pool_connections,
        )
        # A private session: boto3's default session is shared module state and not thread-safe to create clients on.
        session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                        region_name=region)
        self._client: Any = session.client("s3", endpoint_url=endpoint_url, config=config)

    def __repr__(self) -> str:
        return f"S3Store(endpoint_url={self.endpoint_url!r}, bucket={self.bucket!r})"

    def __enter__(self) -> S3Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool; the store is unusable afterwards."""
        self._client.close()

    def _where(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def bucket_exists(self) -> bool:
        """Whether the bucket exists (and these credentials may see it)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code, status, _ = _describe(exc)
            if status == 404 or code in {"404", "NoSuchBucket", "NotFound"}:
                return False
            raise _translate(exc, f"HeadBucket {self._where()}") from exc
        except BotoCoreError as exc:
            raise _translate(exc, f"HeadBucket {self._where()}") from exc
        return True

    def ensure_bucket(self) -> None:
        """Create the bucket if missing. No ACL or policy is set, so it stays private (S3's default)."""
        if self.bucket_exists():
            return
        params: dict[str, Any] = {"Bucket": self.bucket}
        if self.endpoint_url is None and self.region != "us-east-1":
            # Amazon S3 wants the region spelled out everywhere but us-east-1, where it rejects it.
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._client.create_bucket(**params)
        except ClientError as exc:
            if _describe(exc)[0] not in _BUCKET_EXISTS:  # another process won the race: same outcome
                raise _translate(exc, f"CreateBucket {self._where()}") from exc
        except BotoCoreError as exc:
            raise _translate(exc, f"CreateBucket {self._where()}") from exc

    def delete_bucket(self) -> None:
        """Remove the bucket, which must be empty (S3 refuses otherwise)."""
        try:
            self._client.delete_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"DeleteBucket {self._where()}") from exc

    def copy_from(self, source_bucket: str, key: str) -> None:
        """Copy `key` of another bucket on the same endpoint to the same key here, server side (no bytes pass
        through this process), content type included; big objects are copied in parts."""
        check_key(key)
        try:
            self._client.copy({"Bucket": source_bucket, "Key": key}, self.bucket, key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"CopyObject s3://{source_bucket}/{key} to {self._where(key)}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        # A single PutObject (never multipart) is atomic: readers see the old object or the new one.
        check_key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"PutObject {self._where(key)}") from exc

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Upload a local file; big files go multipart, which S3 makes visible only once complete (atomic too)."""
        check_key(key)
        try:
            self._client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"PutObject {self._where(key)}") from exc
        except S3UploadFailedError as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, ClientError | BotoCoreError) else exc
            raise _translate(cause, f"PutObject {self._where(key)}") from exc

    def get(self, key: str) -> tuple[bytes, str]:
        """Return (bytes, content type as stored by put); FileNotFoundError if absent."""
        check_key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            with contextlib.closing(response["Body"]) as body:
                data = cast(bytes, body.read())
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"GetObject {self._where(key)}") from exc
        return data, str(response.get("ContentType") or content_type_for(key))

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error (S3 semantics, like DirectoryStore)."""
        check_key(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"DeleteObject {self._where(key)}") from exc

    def exists(self, key: str) -> bool:
        check_key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            error = _translate(exc, f"HeadObject {self._where(key)}")
            if isinstance(error, FileNotFoundError):
                return False
            raise error from exc
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order.

        A listing carries no content type, and one HEAD per object would make listing the lake slow, so
        the type is the one the key's extension implies (as DirectoryStore reports it); get returns the stored one.
        """
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = str(item["Key"])
                    modified = item.get("LastModified")
                    yield ObjectInfo(key=key, size=int(item["Size"]), content_type=content_type_for(key),
                                     modified=modified.timestamp() if modified is not None else 0.0)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, f"ListObjectsV2 {self._where(prefix)}") from exc

    def presigned_get_url(self, key: str, ttl_s: int | None = None) -> str:
        """A URL anyone may GET for `ttl_s` seconds (default presign_ttl_s). Signed locally: no request is made."""
        check_key(key)
        try:
            url = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl_s or self.presign_ttl_s)
        except BotoCoreError as exc:
            raise _translate(exc, f"presign GetObject {self._where(key)}") from exc
        return str(url)

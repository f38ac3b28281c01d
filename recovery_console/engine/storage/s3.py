"""An S3-compatible bucket as a storage target (boto3): streamed multipart puts, ranged gets, paged lists.

Objects live at `s3://BUCKET/PREFIX/KEY`; the Storage keys ('backups/x.enc') are relative to the
target's prefix, so one bucket can host several roles. Uploads buffer at most one part in memory
and become visible only when `commit` completes them (a multipart upload is aborted otherwise).
Every botocore failure is turned into a project error that names the step and what to do; the
secret access key never appears in a message or a log line.

The error mapping is in s3_errors.py; the multipart upload and the ranged reader in s3_transfer.py.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bce
from botocore.config import Config
from urllib3.exceptions import InsecureRequestWarning

from recovery_console.engine.io_protocols import ReadableFile
from recovery_console.engine.storage.base import ObjectInfo, Storage, Upload
from recovery_console.engine.storage.s3_errors import bucket_missing, map_error
from recovery_console.engine.storage.s3_parts import PARTS_IN_FLIGHT, S3ParallelUpload
from recovery_console.engine.storage.s3_transfer import (
    DEFAULT_PART_SIZE,
    MAX_PART_SIZE,
    MIN_PART_SIZE,
    S3Object,
    S3Reader,
    S3Upload,
    bare_etag,
)
from recovery_console.errors import RecoveryError, SecretUnavailableError, UsageError
from recovery_console.models.target import TargetConfig, check_bucket_name

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 1000
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 3  # tries in all (1 + 2 retries): a few seconds against a dead endpoint, not minutes

SECRET_NAME = "secret_access_key"

def _flag(value: Any, default: bool) -> bool:
    """A boolean option as targets.json or a hand edit may hold it (true/false, 'yes'/'no', 1/0)."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def normalize_prefix(prefix: str | None) -> str:
    """'' or 'a/b/' (one trailing slash, no leading one, no empty/'.'/'..' parts)."""
    text = (prefix or "").strip().strip("/")
    if not text:
        return ""
    parts = text.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"'{prefix}' is not a usable object prefix.",
                         hint="Use plain folder names separated by '/', such as 'recovery/prod'.")
    return text + "/"


def normalize_endpoint(endpoint_url: str | None, use_tls: bool) -> str | None:
    """The endpoint as boto3 wants it; refuses a scheme that contradicts the TLS setting."""
    url = (endpoint_url or "").strip().rstrip("/")
    if not url:
        return None
    if "://" not in url:
        url = ("https://" if use_tls else "http://") + url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"'{endpoint_url}' is not an S3 endpoint URL.",
                         hint="Give it as https://HOST[:PORT], or leave it empty for AWS.")
    if scheme == "http" and use_tls:
        raise UsageError(f"The endpoint {url} is plain HTTP, but TLS is required for this target.",
                         hint="Use an https:// endpoint, or turn TLS off explicitly in the target's settings on a "
                              "network you trust.",
                         cli_hint="Use an https:// endpoint, or turn TLS off explicitly (--no-tls) on a network you "
                                  "trust.")
    if scheme == "https" and not use_tls:
        raise UsageError(f"The endpoint {url} is HTTPS, but TLS is turned off for this target.",
                         hint="Turn TLS on in the target's settings, or give the endpoint as http://.",
                         cli_hint="Drop --no-tls, or give the endpoint as http://.")
    return url


def _mtime(value: datetime | None) -> float:
    """Whole seconds: HEAD reports an HTTP date, listings milliseconds; the catalog needs them equal."""
    return float(int(value.timestamp())) if value is not None else 0.0


def _client_config(connect_timeout: float, read_timeout: float, max_attempts: int, addressing_style: str) -> Config:
    base: dict[str, Any] = dict(
        connect_timeout=connect_timeout, read_timeout=read_timeout,
        retries={"total_max_attempts": max_attempts, "mode": "standard"},  # includes the first try
        s3={"addressing_style": addressing_style},
        user_agent_extra="recovery-console",
    )
    try:
        # Newer botocore checksums every request and validates whole-object checksums on responses by
        # default; several S3-compatible servers return the whole object's checksum on a ranged GET, which
        # then fails validation. We send Content-MD5 ourselves and have our own end-to-end hashes.
        return Config(**base, request_checksum_calculation="when_required",
                      response_checksum_validation="when_required")
    except TypeError:  # botocore older than 1.36 has neither option (nor the behaviour)
        return Config(**base)


class S3Storage(Storage):
    """A bucket (and optional prefix inside it) on AWS S3 or any S3-compatible service."""

    kind = "s3"

    def __init__(
        self,
        name: str,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str = "",
        region: str = "",
        access_key_id: str | None = None,
        secret_access_key: str | Callable[[], str | None] | None = None,
        kms_key_id: str | None = None,
        use_tls: bool = True,
        verify_tls: bool = True,
        addressing_style: str | None = None,
        quota: int | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        parts_in_flight: int = PARTS_IN_FLIGHT,
        page_size: int = DEFAULT_PAGE_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__(name, quota)
        self.bucket = check_bucket_name(bucket)
        self.prefix = normalize_prefix(prefix)
        self.use_tls = use_tls
        self.verify_tls = verify_tls
        self.endpoint_url = normalize_endpoint(endpoint_url, use_tls)
        self.region = (region or "").strip() or None
        self.access_key_id = (access_key_id or "").strip() or None
        self.kms_key_id = (kms_key_id or "").strip() or None
        if addressing_style not in (None, "", "auto", "path", "virtual"):
            raise UsageError(f"Unknown S3 addressing style '{addressing_style}'; choose auto, path or virtual.")
        # Custom endpoints (MinIO, Ceph, rclone, …) rarely have wildcard DNS for virtual-hosted buckets.
        self.addressing_style = addressing_style or ("path" if self.endpoint_url else "auto")
        self.part_size = part_size
        self.parts_in_flight = parts_in_flight
        self.page_size = page_size
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self._secret_source = secret_access_key
        self._secret: str | None = None
        self._client: Any = None
        self._bucket_checked = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"S3Storage(name={self.name!r}, location={self.location('')!r})"

    # -- connection ---------------------------------------------------------------------------

    @property
    def endpoint_label(self) -> str:
        return self.endpoint_url or (f"AWS S3 ({self.region})" if self.region else "AWS S3")

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (no network until then)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def close(self) -> None:
        """Close the client's pooled HTTP connections; the next call makes a new client."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _make_client(self) -> Any:
        session_args: dict[str, Any] = {}
        if self.access_key_id:
            source = self._secret_source
            secret = source() if callable(source) else source
            if not secret:
                raise SecretUnavailableError(
                    f"The secret access key of S3 target '{self.name}' (access key id {self.access_key_id}) "
                    "is not in the OS keyring.",
                    hint="Unlock the keyring, or remove the target and add it again with its secret access key.",
                )
            self._secret = secret
            session_args.update(aws_access_key_id=self.access_key_id, aws_secret_access_key=secret)
        region = self.region or ("us-east-1" if self.endpoint_url else None)
        session = boto3.session.Session(region_name=region, **session_args)
        if not self.verify_tls:
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
            log.warning("S3 target '%s': TLS certificates are NOT verified (chosen when the target was added).",
                        self.name)
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            use_ssl=self.use_tls,
            # None lets botocore honour AWS_CA_BUNDLE / ca_bundle for private CAs; True would ignore them.
            verify=None if self.verify_tls else False,
            config=_client_config(self.connect_timeout, self.read_timeout, self.max_attempts, self.addressing_style),
        )

    def _ready(self) -> Any:
        """The client, after checking once that the bucket exists and the credentials work."""
        client = self.client
        if self._bucket_checked:
            return client
        try:
            client.head_bucket(Bucket=self.bucket)
        except bce.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket") or status == 404:
                raise bucket_missing(self) from None
            if status != 403 and code not in ("403", "AccessDenied"):
                raise self._error(exc, "checking the bucket") from None
            # HEAD answers carry no error code: a bad secret and a policy without s3:ListBucket both look
            # like a bare 403. Ask once more with a request whose answer names the cause.
            self._probe_after_forbidden(client)
        except (bce.BotoCoreError, OSError) as exc:
            raise self._error(exc, "checking the bucket") from None
        self._bucket_checked = True
        return client

    def _probe_after_forbidden(self, client: Any) -> None:
        try:
            client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                # The key may not list, yet may still read and write (a write-only backup key is common);
                # each later operation reports its own permission problem.
                log.info("S3 target '%s': may not list bucket %s; continuing without the bucket check.",
                         self.name, self.bucket)
                return
            raise self._error(exc, "checking the bucket") from None
        except (bce.BotoCoreError, OSError) as exc:
            raise self._error(exc, "checking the bucket") from None

    # -- keys ---------------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        parts = PurePosixPath(key).parts
        if not key or key.startswith("/") or key.endswith("/") or any(p in ("..", ".", "") for p in parts):
            raise UsageError(f"'{key}' is not a valid object key.")
        return self.prefix + key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _sse(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {}

    # -- Storage ------------------------------------------------------------------------------

    def _object(self, key: str) -> S3Object:
        """The object under `key`, as an upload or a reader reaches it; checks the bucket on first use."""
        full = self._full(key)
        return S3Object(client=self._ready(), bucket=self.bucket, key=key, full=full, location=self.location(key),
                        target=self.name, error=self._error)

    def open_upload(self, key: str) -> Upload:
        return S3Upload(self._object(key), self.part_size, self._sse())

    @contextmanager
    def put_acknowledged(self, key: str, acknowledged: Callable[[int], None]) -> Iterator[Upload]:
        """A put with `parts_in_flight` parts sent at once; `acknowledged` hears only of parts the service confirmed."""
        upload = S3ParallelUpload(self._object(key), self.part_size, self._sse(), self.parts_in_flight, acknowledged)
        try:
            yield upload
        except BaseException:
            upload.abort()
            raise
        upload.commit()

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadableFile:
        target = self._object(key)
        if end is not None and end <= start:
            return S3Reader.empty()
        return S3Reader(target, start, end)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        text = prefix or ""
        if text.startswith("/") or ".." in text.split("/"):
            raise UsageError(f"'{prefix}' is not a valid listing prefix.")
        client = self._ready()
        paginator = client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + text,
                                   PaginationConfig={"PageSize": self.page_size})
        cut = len(self.prefix)
        try:
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][cut:]
                    name = key.rsplit("/", 1)[-1]
                    # Folder markers, and hidden names (our probes, other tools' temporary objects), are
                    # not objects the console shows; the local target hides dot-files the same way.
                    if not name or name.startswith("."):
                        continue
                    yield ObjectInfo(key=key, size=int(item.get("Size", 0)), mtime=_mtime(item.get("LastModified")),
                                     etag=bare_etag(item.get("ETag")))
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            raise self._error(exc, "listing") from None

    def stat(self, key: str) -> ObjectInfo:
        full = self._full(key)
        client = self._ready()
        try:
            head = client.head_object(Bucket=self.bucket, Key=full)
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            raise self._error(exc, "looking up", key) from None
        return ObjectInfo(key=key, size=int(head.get("ContentLength", 0)), mtime=_mtime(head.get("LastModified")),
                          etag=bare_etag(head.get("ETag")))

    def delete(self, key: str) -> None:
        # S3 deletes succeed for absent keys; the interface (like the local target) reports them.
        full = self._full(key)
        client = self._ready()
        try:
            client.head_object(Bucket=self.bucket, Key=full)
        except bce.ClientError as exc:
            error = self._error(exc, "deleting", key)
            # A key that may delete but not read gets a bare 403 here: let the delete itself decide.
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 403:
                raise error from None
        except (bce.BotoCoreError, OSError) as exc:
            raise self._error(exc, "deleting", key) from None
        try:
            client.delete_object(Bucket=self.bucket, Key=full)
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            raise self._error(exc, "deleting", key) from None

    def remove_empty_folder(self, prefix: str) -> None:
        """Nothing to remove: a bucket has prefixes, no folders, and a prefix is gone with its last object."""

    # -- errors -------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        # Short strings would match by chance and garble the message; real secret keys are long.
        if self._secret and len(self._secret) >= 8 and self._secret in text:
            text = text.replace(self._secret, "********")
        return text

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> RecoveryError:
        """The project error for a botocore/urllib3 failure while `action` ('writing', …) `key`."""
        err = map_error(self, exc, action, key)
        err.message = self._scrub(err.message)
        err.hint = self._scrub(err.hint)
        err.detail = self._scrub(err.detail or f"{type(exc).__name__}: {exc}")
        err.args = (err.message,)
        return err

def _option(config: TargetConfig, name: str) -> str:
    value = config.options.get(name)
    return "" if value is None else str(value)


def from_config(config: TargetConfig, secrets: Callable[[str], str | None]) -> S3Storage:
    """Build the storage; the secret access key is looked up (keyring) on first use, not here."""
    options = config.options
    bucket = _option(config, "bucket").strip()
    if not bucket:
        raise UsageError(f"S3 target '{config.name}' has no bucket configured.",
                         hint="Edit the target and give its bucket.",
                         cli_hint="Remove the target and add it again with --bucket.")
    access_key_id = _option(config, "access_key_id").strip() or None
    tuning: dict[str, Any] = {}
    try:  # advanced settings a hand-edited targets.json may carry, e.g. for a slow or flaky link
        if options.get("connect_timeout") not in (None, ""):
            tuning["connect_timeout"] = max(0.5, float(options["connect_timeout"]))
        if options.get("read_timeout") not in (None, ""):
            tuning["read_timeout"] = max(0.5, float(options["read_timeout"]))
        if options.get("max_attempts") not in (None, ""):
            tuning["max_attempts"] = max(1, int(options["max_attempts"]))
        if options.get("part_size") not in (None, ""):
            tuning["part_size"] = min(MAX_PART_SIZE, max(MIN_PART_SIZE, int(options["part_size"])))
        if options.get("parts_in_flight") not in (None, ""):
            tuning["parts_in_flight"] = min(10, max(1, int(options["parts_in_flight"])))  # urllib3 pools 10
        if options.get("page_size") not in (None, ""):
            tuning["page_size"] = min(1000, max(1, int(options["page_size"])))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"S3 target '{config.name}' has an unreadable setting: {exc}.",
                         hint="Fix or remove it in targets.json.") from None
    return S3Storage(
        config.name,
        bucket,
        prefix=_option(config, "prefix"),
        endpoint_url=_option(config, "endpoint_url"),
        region=_option(config, "region"),
        access_key_id=access_key_id,
        secret_access_key=(lambda: secrets(SECRET_NAME)) if access_key_id else None,
        kms_key_id=_option(config, "kms_key_id") or None,
        use_tls=_flag(options.get("use_tls"), True),
        verify_tls=_flag(options.get("verify_tls"), True),
        addressing_style=_option(config, "addressing_style") or None,
        quota=config.quota,
        **tuning,
    )

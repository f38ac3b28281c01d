"""An S3-compatible bucket as a storage target (boto3): streamed multipart puts, ranged gets, paged lists.

Objects live at `s3://BUCKET/PREFIX/KEY`; the Storage keys ('backups/x.enc') are relative to the
target's prefix, so one bucket can host several roles. Uploads buffer at most one part in memory
and become visible only when `commit` completes them (a multipart upload is aborted otherwise).
Every botocore failure is turned into a project error that names the step and what to do; the
secret access key never appears in a message or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
import botocore.exceptions as bce
import urllib3.exceptions
from botocore.config import Config

from recovery_console.engine.background import in_background
from recovery_console.engine.storage.base import ObjectInfo, Storage, Upload
from recovery_console.errors import (
    NotFoundError,
    QuotaExceededError,
    RecoveryError,
    SecretUnavailableError,
    StorageError,
    UsageError,
)
from recovery_console.models.target import TargetConfig

log = logging.getLogger(__name__)

MiB = 1 << 20
DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
PART_GROWTH_EVERY = 2_000  # the part size doubles every this many parts, so 10,000 parts reach ~1 TiB
DEFAULT_PAGE_SIZE = 1000
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
MAX_ATTEMPTS = 3  # tries in all (1 + 2 retries): a few seconds against a dead endpoint, not minutes
READ_RESUMES = 2  # a ranged GET whose connection breaks is resumed from where it stopped this often
READ_PIECE = 1 * MiB  # one body read: the HTTP stack makes a temporary of this size (8 MiB pushed peak RSS to 148 MB)
READ_SEGMENT = 32 * MiB  # one ranged GET of a long read; rclone serve s3 spends 2x the CPU per byte on unbounded GETs

SECRET_NAME = "secret_access_key"

# What each operation needs from the bucket policy, for permission-denied hints.
_PERMISSION = {
    "listing": "s3:ListBucket",
    "checking the bucket": "s3:ListBucket",
    "writing": "s3:PutObject (and s3:AbortMultipartUpload)",
    "reading": "s3:GetObject",
    "deleting": "s3:DeleteObject",
    "looking up": "s3:GetObject (HEAD)",
}
_AUTH_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired",
                 "InvalidClientTokenId", "InvalidSecurity"}
_QUOTA = {"EntityTooLarge", "QuotaExceeded", "QuotaExceededException", "XMinioStorageFull",
          "XMinioAdminBucketQuotaExceeded", "InsufficientStorage", "StorageFull", "NotEnoughSpace"}
_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
           "IncorrectEndpoint", "Redirect", "TemporaryRedirect"}
_SERVER_TROUBLE = {"InternalError", "ServiceUnavailable", "SlowDown", "Throttling", "ThrottlingException",
                   "RequestTimeout", "OperationAborted", "XMinioServerNotInitialized"}
_CORRUPT = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}


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
                         hint="Use an https:// endpoint, or turn TLS off explicitly (--no-tls) on a network you trust.")
    if scheme == "https" and not use_tls:
        raise UsageError(f"The endpoint {url} is HTTPS, but TLS is turned off for this target.",
                         hint="Drop --no-tls, or give the endpoint as http://.")
    return url


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _mtime(value: datetime | None) -> float:
    """Whole seconds: HEAD reports an HTTP date, listings milliseconds; the catalog needs them equal."""
    return float(int(value.timestamp())) if value is not None else 0.0


def _md5(data: bytes | bytearray) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        kwargs = getattr(item, "kwargs", None)
        inner = kwargs.get("error") if isinstance(kwargs, dict) else None
        stack.extend([item.__cause__, item.__context__, inner if isinstance(inner, BaseException) else None])


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
        page_size: int = DEFAULT_PAGE_SIZE,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__(name, quota)
        if not bucket or "/" in bucket:
            raise UsageError(f"'{bucket}' is not a bucket name.", hint="Give the bucket's bare name, without s3:// or '/'.")
        self.bucket = bucket
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
            try:
                from urllib3.exceptions import InsecureRequestWarning
                warnings.filterwarnings("ignore", category=InsecureRequestWarning)
            except ImportError:  # pragma: no cover
                pass
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
                raise self._bucket_missing() from None
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

    def open_upload(self, key: str) -> Upload:
        full = self._full(key)
        self._ready()
        return _S3Upload(self, key, full)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> BinaryIO:
        full = self._full(key)
        client = self._ready()
        if end is not None and end <= start:
            return _S3Reader.empty()  # type: ignore[return-value]
        return _S3Reader(self, client, key, full, start, end)  # type: ignore[return-value]

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
                                     etag=_etag(item.get("ETag")))
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
                          etag=_etag(head.get("ETag")))

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

    # -- errors -------------------------------------------------------------------------------

    def _bucket_missing(self) -> StorageError:
        return StorageError(
            f"The bucket '{self.bucket}' does not exist at {self.endpoint_label} (S3 target '{self.name}').",
            hint="Create the bucket first (the console never creates buckets), or fix the bucket name, "
                 "endpoint or region of the target.",
        )

    def _scrub(self, text: str) -> str:
        # Short strings would match by chance and garble the message; real secret keys are long.
        if self._secret and len(self._secret) >= 8 and self._secret in text:
            text = text.replace(self._secret, "********")
        return text

    def _error(self, exc: BaseException, action: str, key: str | None = None) -> RecoveryError:
        """The project error for a botocore/urllib3 failure while `action` ('writing', …) `key`."""
        err = self._map(exc, action, key)
        err.message = self._scrub(err.message)
        err.hint = self._scrub(err.hint)
        err.detail = self._scrub(err.detail or f"{type(exc).__name__}: {exc}")
        err.args = (err.message,)
        return err

    def _map(self, exc: BaseException, action: str, key: str | None) -> RecoveryError:
        where = self.location(key) if key else f"s3://{self.bucket}/{self.prefix}"
        who = f"S3 target '{self.name}'"
        endpoint = self.endpoint_label
        if isinstance(exc, bce.ClientError):
            return self._map_client_error(exc, action, key, where, who)
        if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError, bce.CredentialRetrievalError)):
            return StorageError(
                f"No S3 credentials were found for {who}: it has no access key id, and no IAM role, instance "
                "profile, AWS_* environment variables or AWS profile supplied any.",
                hint="Add the target again with --access-key-id (its secret goes to the OS keyring), or run "
                     "where an IAM role or instance profile is available.",
            )
        if isinstance(exc, bce.SSLError):
            reason = self._ssl_reason(exc)
            if "WRONG_VERSION_NUMBER" in reason or "wrong version number" in reason:
                return StorageError(f"{endpoint} does not speak TLS (HTTPS) ({who}).",
                                    hint="Check the endpoint's port, or turn TLS off (--no-tls) if the service "
                                         "really is plain HTTP on a network you trust.")
            return StorageError(
                f"The TLS certificate of {endpoint} could not be verified: {reason} ({who}).",
                hint="Make this machine trust the CA that signed it (e.g. AWS_CA_BUNDLE=/path/ca.pem), fix the "
                     "endpoint's host name, or - only on a network you trust - add the target with --no-verify-tls.",
            )
        if isinstance(exc, bce.ConnectTimeoutError):
            return StorageError(
                f"Connecting to {endpoint} timed out after {self.connect_timeout:g} s while {action} ({who}).",
                hint="Check the endpoint URL, this machine's network, VPN and firewall.",
            )
        if isinstance(exc, bce.ReadTimeoutError) or _is(exc, "ReadTimeoutError", TimeoutError):
            return StorageError(
                f"{endpoint} stopped answering for {self.read_timeout:g} s while {action} {where} ({who}).",
                hint="The service or the network is overloaded or down; try again later. Nothing partial was kept.",
            )
        if isinstance(exc, bce.EndpointConnectionError) or isinstance(exc, ConnectionRefusedError):
            host = urlsplit(self.endpoint_url).hostname if self.endpoint_url else "the AWS S3 endpoint"
            if _is(exc, "NameResolutionError", None) or any(type(e).__name__ == "gaierror" for e in _cause_chain(exc)):
                return StorageError(f"The name {host} of the S3 endpoint could not be resolved ({who}).",
                                    hint="Check the endpoint URL for typos, and this machine's DNS and network.")
            if any(isinstance(e, ConnectionRefusedError) for e in _cause_chain(exc)):
                return StorageError(f"{endpoint} refused the connection while {action} ({who}).",
                                    hint="Check the endpoint's host and port, and that the S3 service is running.")
            return StorageError(f"Could not connect to {endpoint} while {action} ({who}).",
                                hint="Check the endpoint URL, this machine's network, VPN and firewall.")
        if isinstance(exc, (bce.ConnectionClosedError, bce.ResponseStreamingError, bce.IncompleteReadError,
                            bce.ConnectionError, ConnectionError)) or _is(exc, "ProtocolError", None):
            return StorageError(
                f"The connection to {endpoint} broke while {action} {where} ({who}).",
                hint="Check that the S3 service is up and the network is stable, then try again; "
                     "nothing partial was kept.",
            )
        if isinstance(exc, bce.ParamValidationError):
            return UsageError(f"An S3 request for {where} was malformed: {exc}.")
        if isinstance(exc, RecoveryError):
            return exc
        return StorageError(f"The S3 request failed while {action} {where} ({who}): {exc}.",
                            hint="Try again; if it persists, run `target test` for this target.")

    @staticmethod
    def _ssl_reason(exc: BaseException) -> str:
        for item in _cause_chain(exc):
            reason = getattr(item, "verify_message", None) or getattr(item, "reason", None)
            if reason and isinstance(reason, str):
                return reason
        text = str(exc)
        return text.split("] ", 1)[-1] if "] " in text else text

    def _map_client_error(self, exc: bce.ClientError, action: str, key: str | None, where: str, who: str) -> RecoveryError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "") or "")
        meta = exc.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode")
        key_id = self.access_key_id or "from the default credential chain"
        if code == "InvalidAccessKeyId":
            return StorageError(
                f"{self.endpoint_label} does not know the access key id {key_id} ({who}).",
                hint="Check the access key id, and that the key still exists and is active; re-add the target "
                     "with the right one.",
            )
        if code == "SignatureDoesNotMatch":
            return StorageError(
                f"{self.endpoint_label} rejected the secret access key of access key id {key_id}: "
                f"the request signature does not match ({who}).",
                hint="The stored secret access key is wrong: remove the target and add it again with the right "
                     "secret (from a file, an environment variable or the prompt).",
            )
        if code in _AUTH_EXPIRED:
            return StorageError(f"The S3 credentials of {who} are expired or invalid ({code}).",
                                hint="Refresh the session credentials of the role or profile, or use a long-term key.")
        if code == "RequestTimeTooSkewed":
            return StorageError(f"This machine's clock differs too much from {self.endpoint_label}'s ({who}).",
                                hint="Set the system clock right (enable NTP) and try again.")
        if code == "NoSuchBucket":
            return self._bucket_missing()
        if code in _REGION or status == 301:
            headers = meta.get("HTTPHeaders", {}) or {}
            actual = headers.get("x-amz-bucket-region") or error.get("Region")
            where_really = f" in region {actual}" if actual else " in another region"
            return StorageError(
                f"The bucket '{self.bucket}' is{where_really}, not {self.region or 'the default region'} ({who}).",
                hint=f"Add the target again with --region {actual}." if actual else
                     "Add the target again with the bucket's region (--region).",
            )
        if code in ("NoSuchKey", "NotFound", "NoSuchUpload") or (status == 404 and key is not None):
            return NotFoundError(f"{where} does not exist.",
                                 hint="Refresh the backup list; it may have been removed by another client.")
        if code.startswith("KMS") or "KMS" in code:
            return StorageError(
                f"The KMS key {self.kms_key_id or '(bucket default)'} cannot be used while {action} {where}: "
                f"{code}{': ' + message if message else ''} ({who}).",
                hint="Check the KMS key id and that this access key may use it (kms:GenerateDataKey, kms:Decrypt).",
            )
        if code in _QUOTA or status in (413, 507):
            return QuotaExceededError(
                f"{self.endpoint_label} refused {action} {where}: the bucket's quota or the size limit was "
                f"reached ({code or status}) ({who}).",
                hint="Delete old backups, raise the bucket's quota, or choose another target; nothing partial "
                     "was kept.",
            )
        if code in ("AccessDenied", "AllAccessDisabled", "403", "Forbidden") or status == 403:
            permission = _PERMISSION.get(action, "the needed S3 permission")
            extra = f" and use of KMS key {self.kms_key_id}" if self.kms_key_id and action in ("writing", "reading") else ""
            return StorageError(
                f"Permission denied while {action} {where} ({who}).",
                hint=f"Grant this access key {permission} on bucket '{self.bucket}'{extra}.",
            )
        if code == "InvalidBucketName":
            return UsageError(f"'{self.bucket}' is not a valid bucket name ({who}).",
                              hint="Fix the bucket name of the target.")
        if code in _CORRUPT:
            return StorageError(f"Data was damaged in transit while {action} {where} ({code}) ({who}).",
                                hint="Try again; if it repeats, check the network path (proxies, NICs).")
        if code in _SERVER_TROUBLE or (isinstance(status, int) and status >= 500):
            return StorageError(
                f"{self.endpoint_label} failed while {action} {where}: {code or status}"
                f"{' (' + message + ')' if message and message != code else ''} ({who}).",
                hint="The service had an internal problem or is throttling; try again later. If it persists, "
                     "check the service's own logs or status page.",
            )
        return StorageError(
            f"{self.endpoint_label} refused {action} {where}: {code or status}"
            f"{' (' + message + ')' if message and message != code else ''} ({who}).",
            hint="Run `target test` for this target; check its settings and the bucket's policy.",
        )


def _is(exc: BaseException, name: str, kind: type | None) -> bool:
    return any(type(e).__name__ == name or (kind is not None and isinstance(e, kind)) for e in _cause_chain(exc))


class _S3Upload(Upload):
    """A put in progress: one buffered part in memory; a single PUT when small, multipart otherwise."""

    def __init__(self, storage: S3Storage, key: str, full: str) -> None:
        self.storage = storage
        self.key = key
        self.full = full
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.size = 0
        self.done = False

    def _part_limit(self) -> int:
        number = len(self.parts) + 1
        base = max(1, self.storage.part_size)
        return min(MAX_PART_SIZE, base << ((number - 1) // PART_GROWTH_EVERY))

    def write(self, data: bytes | memoryview) -> None:
        if self.done:
            raise UsageError(f"The upload of {self.storage.location(self.key)} is already finished.")
        view = memoryview(data).cast("B")
        try:
            while len(view):
                room = self._part_limit() - len(self.buffer)
                self.buffer += view[:room]
                view = view[room:]
                if len(self.buffer) >= self._part_limit():
                    self._send_part()
        except BaseException:
            self.abort()
            raise
        self.size += len(memoryview(data).cast("B"))

    def _send_part(self) -> None:
        s = self.storage
        client = s.client
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise QuotaExceededError(
                f"{s.location(self.key)} would be larger than one S3 object may be (10,000 parts).",
                hint="Split the backup, or raise the target's part size.")
        body, self.buffer = bytes(self.buffer), bytearray()
        try:
            if self.upload_id is None:
                created = client.create_multipart_upload(Bucket=s.bucket, Key=self.full, **s._sse())
                self.upload_id = created["UploadId"]
            answer = client.upload_part(Bucket=s.bucket, Key=self.full, UploadId=self.upload_id, PartNumber=number,
                                        Body=body, ContentMD5=_md5(body))
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            raise s._error(exc, "writing", self.key) from None
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> None:
        if self.done:
            raise UsageError(f"The upload of {self.storage.location(self.key)} is already finished.")
        s = self.storage
        try:
            if self.upload_id is None:
                body, self.buffer = bytes(self.buffer), bytearray()
                try:
                    s.client.put_object(Bucket=s.bucket, Key=self.full, Body=body, ContentMD5=_md5(body), **s._sse())
                except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                    raise s._error(exc, "writing", self.key) from None
            else:
                if self.buffer:
                    self._send_part()
                try:
                    s.client.complete_multipart_upload(Bucket=s.bucket, Key=self.full, UploadId=self.upload_id,
                                                       MultipartUpload={"Parts": self.parts})
                except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                    raise s._error(exc, "writing", self.key) from None
        except BaseException:
            self.abort()
            raise
        self.done = True
        self.buffer = bytearray()

    def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.buffer = bytearray()
        if self.upload_id is None:
            return
        s = self.storage
        try:
            s.client.abort_multipart_upload(Bucket=s.bucket, Key=self.full, UploadId=self.upload_id)
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            # The failure that made us abort matters more; the parts are invisible to listings anyway.
            log.warning("S3 target '%s': could not abort the incomplete upload of %s (%s); the service keeps its "
                        "parts until a lifecycle rule (AbortIncompleteMultipartUpload) removes them.",
                        s.name, s.location(self.key), type(exc).__name__)


class _S3Reader(io.RawIOBase):
    """Bytes [start, end) of an object, read in pieces from consecutive ranged GETs of READ_SEGMENT bytes.

    The next segment's GET is sent while the current one streams, so request latency hides behind
    the transfer; only its headers are read ahead, its body waits in the socket. Every GET after
    the first names the first one's ETag, so all segments come from one version of the object. A
    broken connection is resumed where it stopped.
    """

    def __init__(self, storage: S3Storage | None, client: Any, key: str, full: str, start: int,
                 end: int | None) -> None:
        super().__init__()
        self._storage = storage
        self._client = client
        self._key = key
        self._full = full
        self._pos = start
        self._end = end
        self._segment_end = start
        self._etag: str | None = None
        self._body: Any = None
        self._resumes = 0
        self._ahead: Future | None = None
        if storage is not None:
            self._take(self._get(start, self._segment_stop(start)), start)

    @classmethod
    def empty(cls) -> _S3Reader:
        return cls(None, None, "", "", 0, 0)

    def _segment_stop(self, start: int) -> int:
        stop = start + READ_SEGMENT
        return stop if self._end is None else min(stop, self._end)

    def _get(self, start: int, stop: int) -> dict[str, Any] | None:
        """One GET of [start, stop) (less at the object's end); None when nothing is there (InvalidRange)."""
        s = self._storage
        assert s is not None
        args: dict[str, Any] = {"Bucket": s.bucket, "Key": self._full, "Range": f"bytes={start}-{stop - 1}"}
        if self._etag:
            args["IfMatch"] = f'"{self._etag}"'
        try:
            answer = self._client.get_object(**args)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "InvalidRange":  # starting at or past the end: nothing to read, as with a local file
                return None
            if code == "PreconditionFailed":
                raise self._replaced() from None
            raise s._error(exc, "reading", self._key) from None
        except (bce.BotoCoreError, OSError) as exc:
            raise s._error(exc, "reading", self._key) from None
        etag = _etag(answer.get("ETag"))
        if self._etag is not None and etag is not None and etag != self._etag:
            answer["Body"].close()
            raise self._replaced()
        return answer

    def _replaced(self) -> StorageError:
        assert self._storage is not None
        return StorageError(f"{self._storage.location(self._key)} was replaced while it was being read.",
                            hint="Read it again; nothing partial was kept.")

    def _take(self, answer: dict[str, Any] | None, start: int) -> None:
        """Stream from this GET's body, learn the object's end from its first one, and send the next GET ahead."""
        if answer is None:
            self._body, self._end, self._segment_end = None, start, start
            return
        self._etag = self._etag or _etag(answer.get("ETag"))
        self._body = answer["Body"]
        self._segment_end = start + int(answer.get("ContentLength", 0))
        total = _total_size(answer.get("ContentRange"))
        if total is None:  # no Content-Range: the server ignored the range and sent the whole object
            total = self._segment_end
        self._end = total if self._end is None else min(self._end, total)
        self._send_ahead()

    def _send_ahead(self) -> None:
        if self._ahead is not None or self._segment_end >= (self._end or 0):
            return
        start = self._segment_end
        self._ahead = in_background(self._get, start, self._segment_stop(start), name="rc-s3-ahead")

    def _next_segment(self) -> None:
        """Move on to the GET sent ahead; if sending it failed (say while the link was down), ask once more now."""
        self._close_body()
        ahead, self._ahead = self._ahead, None
        try:
            answer = ahead.result() if ahead is not None else self._get(self._pos, self._segment_stop(self._pos))
        except RecoveryError:
            answer = self._get(self._pos, self._segment_stop(self._pos))
        self._take(answer, self._pos)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        remaining = max(0, (self._end or 0) - self._pos) if self._body is not None else 0
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want <= 0:
            return b""
        out = bytearray(want)
        got = 0
        view = memoryview(out)
        while got < want:
            n = self.readinto(view[got:])
            if not n:
                break
            got += n
        del view
        return bytes(out[:got]) if got < want else bytes(out)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._body is None or self._end is None or self._pos >= self._end:
            return 0
        if self._pos >= self._segment_end:
            self._next_segment()
            if self._body is None:
                return 0
        want = min(len(view), self._segment_end - self._pos, READ_PIECE)
        if want <= 0:
            return 0
        while True:
            try:
                data = self._body.read(want)
            except (bce.BotoCoreError, OSError, urllib3.exceptions.HTTPError) as exc:
                self._resume(exc)
                continue
            if data:
                break
            self._resume(bce.IncompleteReadError(actual_bytes=self._pos, expected_bytes=self._segment_end))
        n = len(data)
        view[:n] = data
        self._pos += n
        return n

    def _resume(self, exc: BaseException) -> None:
        """Reopen the segment at the current position (same object: same ETag), or fail saying where it broke."""
        s = self._storage
        assert s is not None
        self._close_body()
        broken = s._error(exc, "reading", self._key)
        if self._resumes >= READ_RESUMES:
            raise broken
        self._resumes += 1
        log.info("S3 target '%s': the download of %s broke at byte %d (%s); resuming.",
                 s.name, s.location(self._key), self._pos, type(exc).__name__)
        try:
            answer = self._get(self._pos, self._segment_end)
        except RecoveryError as again:
            raise StorageError(
                f"Reading {s.location(self._key)} broke off at byte {self._pos:,} of {self._end or 0:,}, and "
                f"reconnecting failed: {again.message}",
                hint=again.hint or broken.hint,
                detail=broken.message,
            ) from None
        if answer is None:
            raise broken
        self._body = answer["Body"]

    def _close_body(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            except Exception:  # noqa: BLE001 - the stream may already be broken
                pass
            self._body = None

    def close(self) -> None:
        self._close_body()
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.add_done_callback(_close_answer)
        super().close()

    def __enter__(self) -> _S3Reader:
        return self


def _close_answer(done: Future) -> None:
    """Close the body of a GET sent ahead that nobody will read."""
    if not done.cancelled() and done.exception() is None and done.result() is not None:
        done.result()["Body"].close()


def _total_size(content_range: str | None) -> int | None:
    """The object's size from a Content-Range header ("bytes 0-99/1234"), if it says."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _option(config: TargetConfig, name: str) -> str:
    value = config.options.get(name)
    return "" if value is None else str(value)


def from_config(config: TargetConfig, secrets: Callable[[str], str | None]) -> S3Storage:
    """Build the storage; the secret access key is looked up (keyring) on first use, not here."""
    options = config.options
    bucket = _option(config, "bucket").strip()
    if not bucket:
        raise UsageError(f"S3 target '{config.name}' has no bucket configured.",
                         hint="Remove the target and add it again with --bucket.")
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

"""S3 failures in words a user can act on: each botocore/urllib3 error and S3 error code mapped to a project error.

Each function takes the target's settings a message names (an `S3Endpoint`: its endpoint, bucket, key id
and timeouts); S3Storage is one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

import botocore.exceptions as bce

from recovery_console.errors import NotFoundError, QuotaExceededError, RecoveryError, StorageError, UsageError

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


class S3Endpoint(Protocol):
    """What a message says about the target: its name, where its bucket is, which key and timeouts it uses."""

    @property
    def name(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def prefix(self) -> str: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def endpoint_label(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def access_key_id(self) -> str | None: ...
    @property
    def kms_key_id(self) -> str | None: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...

    def location(self, key: str) -> str: ...


def cause_chain(exc: BaseException) -> Iterator[BaseException]:
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


def in_chain(exc: BaseException, name: str, kind: type | None) -> bool:
    return any(type(e).__name__ == name or (kind is not None and isinstance(e, kind)) for e in cause_chain(exc))


def bucket_missing(storage: S3Endpoint) -> StorageError:
    return StorageError(
        f"The bucket '{storage.bucket}' does not exist at {storage.endpoint_label} (S3 target '{storage.name}').",
        hint="Create the bucket first (the console never creates buckets), or fix the bucket name, "
             "endpoint or region of the target.",
    )


def map_error(storage: S3Endpoint, exc: BaseException, action: str, key: str | None) -> RecoveryError:
    """The project error for a botocore/urllib3 failure of `storage` while `action` ('writing', …) `key`."""
    where = storage.location(key) if key else f"s3://{storage.bucket}/{storage.prefix}"
    who = f"S3 target '{storage.name}'"
    endpoint = storage.endpoint_label
    if isinstance(exc, bce.ClientError):
        return _map_client_error(storage, exc, action, key, where, who)
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError, bce.CredentialRetrievalError)):
        return StorageError(
            f"No S3 credentials were found for {who}: it has no access key id, and no IAM role, instance "
            "profile, AWS_* environment variables or AWS profile supplied any.",
            hint="Edit the target and give an access key id and its secret (kept in the OS keyring), or run "
                 "where an IAM role or instance profile is available.",
            cli_hint="Add the target again with --access-key-id (its secret goes to the OS keyring), or run "
                     "where an IAM role or instance profile is available.",
        )
    if isinstance(exc, bce.SSLError):
        reason = _ssl_reason(exc)
        if "WRONG_VERSION_NUMBER" in reason or "wrong version number" in reason:
            return StorageError(f"{endpoint} does not speak TLS (HTTPS) ({who}).",
                                hint="Check the endpoint's port, or turn TLS off in the target's settings if the "
                                     "service really is plain HTTP on a network you trust.",
                                cli_hint="Check the endpoint's port, or turn TLS off (--no-tls) if the service "
                                         "really is plain HTTP on a network you trust.")
        return StorageError(
            f"The TLS certificate of {endpoint} could not be verified: {reason} ({who}).",
            hint="Make this machine trust the CA that signed it (e.g. AWS_CA_BUNDLE=/path/ca.pem), fix the "
                 "endpoint's host name, or - only on a network you trust - turn certificate checks off in the "
                 "target's settings.",
            cli_hint="Make this machine trust the CA that signed it (e.g. AWS_CA_BUNDLE=/path/ca.pem), fix the "
                     "endpoint's host name, or - only on a network you trust - add the target with --no-verify-tls.",
        )
    if isinstance(exc, bce.ConnectTimeoutError):
        return StorageError(
            f"Connecting to {endpoint} timed out after {storage.connect_timeout:g} s while {action} ({who}).",
            hint="Check the endpoint URL, this machine's network, VPN and firewall.",
        )
    if isinstance(exc, bce.ReadTimeoutError) or in_chain(exc, "ReadTimeoutError", TimeoutError):
        return StorageError(
            f"{endpoint} stopped answering for {storage.read_timeout:g} s while {action} {where} ({who}).",
            hint="The service or the network is overloaded or down; try again later. Nothing partial was kept.",
        )
    if isinstance(exc, (bce.EndpointConnectionError, ConnectionRefusedError)):
        host = urlsplit(storage.endpoint_url).hostname if storage.endpoint_url else "the AWS S3 endpoint"
        if in_chain(exc, "NameResolutionError", None) or any(type(e).__name__ == "gaierror" for e in cause_chain(exc)):
            return StorageError(f"The name {host} of the S3 endpoint could not be resolved ({who}).",
                                hint="Check the endpoint URL for typos, and this machine's DNS and network.")
        if any(isinstance(e, ConnectionRefusedError) for e in cause_chain(exc)):
            return StorageError(f"{endpoint} refused the connection while {action} ({who}).",
                                hint="Check the endpoint's host and port, and that the S3 service is running.")
        return StorageError(f"Could not connect to {endpoint} while {action} ({who}).",
                            hint="Check the endpoint URL, this machine's network, VPN and firewall.")
    if isinstance(exc, (bce.ConnectionClosedError, bce.ResponseStreamingError, bce.IncompleteReadError,
                        bce.ConnectionError, ConnectionError)) or in_chain(exc, "ProtocolError", None):
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
                        hint="Try again; if it persists, test this target's connection.",
                        cli_hint="Try again; if it persists, run `target test` for this target.")

def _ssl_reason(exc: BaseException) -> str:
    for item in cause_chain(exc):
        reason = getattr(item, "verify_message", None) or getattr(item, "reason", None)
        if reason and isinstance(reason, str):
            return reason
    text = str(exc)
    return text.split("] ", 1)[-1] if "] " in text else text


def _map_client_error(storage: S3Endpoint, exc: bce.ClientError, action: str, key: str | None, where: str,
                      who: str) -> RecoveryError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "") or "")
    meta = exc.response.get("ResponseMetadata", {})
    status = meta.get("HTTPStatusCode")
    key_id = storage.access_key_id or "from the default credential chain"
    if code == "InvalidAccessKeyId":
        return StorageError(
            f"{storage.endpoint_label} does not know the access key id {key_id} ({who}).",
            hint="Check the access key id, and that the key still exists and is active; re-add the target "
                 "with the right one.",
        )
    if code == "SignatureDoesNotMatch":
        return StorageError(
            f"{storage.endpoint_label} rejected the secret access key of access key id {key_id}: "
            f"the request signature does not match ({who}).",
            hint="The stored secret access key is wrong: remove the target and add it again with the right "
                 "secret (from a file, an environment variable or the prompt).",
        )
    if code in _AUTH_EXPIRED:
        return StorageError(f"The S3 credentials of {who} are expired or invalid ({code}).",
                            hint="Refresh the session credentials of the role or profile, or use a long-term key.")
    if code == "RequestTimeTooSkewed":
        return StorageError(f"This machine's clock differs too much from {storage.endpoint_label}'s ({who}).",
                            hint="Set the system clock right (enable NTP) and try again.")
    if code == "NoSuchBucket":
        return bucket_missing(storage)
    if code in _REGION or status == 301:
        headers = meta.get("HTTPHeaders", {}) or {}
        actual = headers.get("x-amz-bucket-region") or error.get("Region")
        where_really = f" in region {actual}" if actual else " in another region"
        return StorageError(
            f"The bucket '{storage.bucket}' is{where_really}, not {storage.region or 'the default region'} ({who}).",
            hint=f"Edit the target and set its region to {actual}." if actual else
                 "Edit the target and set the bucket's region.",
            cli_hint=f"Add the target again with --region {actual}." if actual else
                     "Add the target again with the bucket's region (--region).",
        )
    if code in ("NoSuchKey", "NotFound", "NoSuchUpload") or (status == 404 and key is not None):
        return NotFoundError(f"{where} does not exist.",
                             hint="Refresh the backup list; it may have been removed by another client.")
    if code.startswith("KMS") or "KMS" in code:
        return StorageError(
            f"The KMS key {storage.kms_key_id or '(bucket default)'} cannot be used while {action} {where}: "
            f"{code}{': ' + message if message else ''} ({who}).",
            hint="Check the KMS key id and that this access key may use it (kms:GenerateDataKey, kms:Decrypt).",
        )
    if code in _QUOTA or status in (413, 507):
        return QuotaExceededError(
            f"{storage.endpoint_label} refused {action} {where}: the bucket's quota or the size limit was "
            f"reached ({code or status}) ({who}).",
            hint="Delete old backups, raise the bucket's quota, or choose another target; nothing partial "
                 "was kept.",
        )
    if code in ("AccessDenied", "AllAccessDisabled", "403", "Forbidden") or status == 403:
        permission = _PERMISSION.get(action, "the needed S3 permission")
        uses_kms = storage.kms_key_id and action in ("writing", "reading")
        extra = f" and use of KMS key {storage.kms_key_id}" if uses_kms else ""
        return StorageError(
            f"Permission denied while {action} {where} ({who}).",
            hint=f"Grant this access key {permission} on bucket '{storage.bucket}'{extra}.",
        )
    if code == "InvalidBucketName":
        return UsageError(f"'{storage.bucket}' is not a valid bucket name ({who}).",
                          hint="Fix the bucket name of the target.")
    if code in _CORRUPT:
        return StorageError(f"Data was damaged in transit while {action} {where} ({code}) ({who}).",
                            hint="Try again; if it repeats, check the network path (proxies, NICs).")
    if code in _SERVER_TROUBLE or (isinstance(status, int) and status >= 500):
        return StorageError(
            f"{storage.endpoint_label} failed while {action} {where}: {code or status}"
            f"{' (' + message + ')' if message and message != code else ''} ({who}).",
            hint="The service had an internal problem or is throttling; try again later. If it persists, "
                 "check the service's own logs or status page.",
        )
    return StorageError(
        f"{storage.endpoint_label} refused {action} {where}: {code or status}"
        f"{' (' + message + ')' if message and message != code else ''} ({who}).",
        hint="Test this target's connection; check its settings and the bucket's policy.",
        cli_hint="Run `target test` for this target; check its settings and the bucket's policy.",
    )

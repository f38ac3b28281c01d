"""The S3 target against a real SigV4 server (`rclone serve s3`), from the Storage API up to the Console.

Faults are provoked for real on a server owned by the test (killed, paused, read-only, TLS with an
untrusted certificate); only the few S3 answers rclone cannot give (AccessDenied, KMS, quota codes)
are checked through the error mapping alone, at the end of this file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.exceptions as bce
import pytest

from recovery_console.engine.console import Console
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.targets import open_storage, target_scope
from recovery_console.engine.storage import s3_transfer
from recovery_console.engine.storage.round_trip import round_trip
from recovery_console.engine.storage.s3 import S3Storage, from_config
from recovery_console.engine.storage.s3_transfer import DEFAULT_PART_SIZE, MIN_PART_SIZE
from recovery_console.errors import (
    Cancelled,
    NotFoundError,
    QuotaExceededError,
    RecoveryError,
    SecretUnavailableError,
    StorageError,
    UsageError,
)
from recovery_console.models.target import TargetConfig
from tests.fixtures.s3 import RcloneS3, free_port

integration = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample-pg15.dump"
INSTANCE_SECRET = "s3-test instance secret: correct horse battery staple"
MiB = 1 << 20


class FakeSecrets:
    """Stands in for the keyring-backed SecretStore: the same put/get/delete/lookup, in memory."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def put(self, scope: str, name: str, value: str) -> None:
        self.values[(scope, name)] = value

    def get(self, scope: str, name: str) -> str | None:
        return self.values.get((scope, name))

    def delete(self, scope: str, name: str) -> None:
        self.values.pop((scope, name), None)

    def lookup(self, scope: str) -> Callable[[str], str | None]:
        return lambda name: self.get(scope, name)


def make_console(server: RcloneS3, config: TargetConfig) -> Console:
    console = Console()
    console.secrets = FakeSecrets()  # type: ignore[assignment]
    console.add_target(config, {"secret_access_key": server.secret_key})
    return console


def raw_keys(server: RcloneS3, bucket: str, prefix: str = "") -> list[str]:
    """Every key another client sees in the bucket (no hiding of dot-names)."""
    client = server.client()
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", ())]
    return keys


def pending_uploads(server: RcloneS3, bucket: str) -> list[dict[str, Any]]:
    try:
        return server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    except bce.ClientError as exc:
        # rclone keeps multipart state in memory: after a restart it answers NoSuchUpload instead of a list.
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return []
        raise


def assert_secret_absent(secret: str, *texts: object) -> None:
    for text in texts:
        assert secret not in str(text)


def backup_name(short: str = "deadbeef") -> str:
    return f"backups/rc_backup_20250101-00-00-00-1.0.0-manual-{short}.enc"


def expect_error(kind: type[RecoveryError], action: Callable[[], Any]) -> RecoveryError:
    with pytest.raises(kind) as info:
        action()
    return info.value


# -- the Storage contract ---------------------------------------------------------------------------


@integration
def test_round_trip_passes_and_leaves_nothing(rclone_s3: RcloneS3, s3_bucket: str, s3_storage: S3Storage) -> None:
    report = round_trip(s3_storage)
    assert report.ok, report.steps
    assert [step.step for step in report.steps] == ["list", "write", "read", "delete"]
    assert raw_keys(rclone_s3, s3_bucket) == []


@integration
def test_target_registry_builds_s3_storage(rclone_s3: RcloneS3, s3_target: TargetConfig) -> None:
    storage = open_storage(s3_target, rclone_s3.secrets())
    assert isinstance(storage, S3Storage)
    assert storage.location("backups/x.enc") == f"s3://{s3_target.options['bucket']}/backups/x.enc"
    assert round_trip(storage).ok
    assert rclone_s3.secret_key not in repr(storage)


@integration
def test_put_is_invisible_until_commit_and_gone_after_abort(rclone_s3: RcloneS3, s3_bucket: str,
                                                           s3_storage: S3Storage) -> None:
    upload = s3_storage.open_upload("backups/one.bin")
    upload.write(b"hello ")
    upload.write(memoryview(b"world"))
    assert raw_keys(rclone_s3, s3_bucket) == []
    upload.commit()
    assert s3_storage.get_bytes("backups/one.bin") == b"hello world"
    info = s3_storage.stat("backups/one.bin")
    assert info.size == 11 and info.etag == hashlib.md5(b"hello world").hexdigest()
    assert [i.key for i in s3_storage.list("backups/")] == ["backups/one.bin"]
    assert list(s3_storage.list("backups/")) == [info], "stat and list must agree (catalog identity)"

    small = s3_storage.open_upload("backups/small.bin")
    small.write(b"x" * 1000)
    small.abort()
    small.abort()  # idempotent

    # Multipart (one real 5 MiB part sent) then aborted: no object, no pending upload.
    s3_storage.part_size = MIN_PART_SIZE
    big = s3_storage.open_upload("backups/big.bin")
    big.write(os.urandom(MIN_PART_SIZE + 1000))
    assert len(pending_uploads(rclone_s3, s3_bucket)) == 1
    assert raw_keys(rclone_s3, s3_bucket) == ["backups/one.bin"]
    big.abort()
    assert pending_uploads(rclone_s3, s3_bucket) == []

    # An exception inside Storage.put aborts too.
    with pytest.raises(RuntimeError), s3_storage.put("backups/failed.bin") as failing:
        failing.write(os.urandom(MIN_PART_SIZE + 1))
        raise RuntimeError("the source broke")
    assert pending_uploads(rclone_s3, s3_bucket) == []
    assert raw_keys(rclone_s3, s3_bucket) == ["backups/one.bin"]


@integration
def test_uploads_ask_for_sse_kms_with_the_configured_key(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        headers = params.get("headers", {})
        seen.append((model.name, headers.get("x-amz-server-side-encryption"),
                     headers.get("x-amz-server-side-encryption-aws-kms-key-id")))

    storage = rclone_s3.storage(s3_bucket, kms_key_id="alias/backups", part_size=MIN_PART_SIZE)
    storage.client.meta.events.register("before-call.s3", record)
    storage.put_bytes("backups/small.enc", b"x")
    storage.put_bytes("backups/big.enc", os.urandom(MIN_PART_SIZE + 1))
    assert ("PutObject", "aws:kms", "alias/backups") in seen
    assert ("CreateMultipartUpload", "aws:kms", "alias/backups") in seen
    plain = rclone_s3.storage(s3_bucket)  # no key id: the bucket's default encryption applies
    seen.clear()
    plain.client.meta.events.register("before-call.s3", record)
    plain.put_bytes("backups/plain.enc", b"y")
    assert seen[-1] == ("PutObject", None, None)


@integration
def test_missing_objects_raise_not_found(s3_storage: S3Storage) -> None:
    for action in (lambda: s3_storage.stat("backups/none.enc"), lambda: s3_storage.open_read("backups/none.enc"),
                   lambda: s3_storage.delete("backups/none.enc")):
        error = expect_error(NotFoundError, action)
        assert "s3://" in error.message and "does not exist" in error.message


@integration
def test_large_multipart_round_trip_with_ranged_reads(rclone_s3: RcloneS3, s3_bucket: str,
                                                     s3_storage: S3Storage) -> None:
    size = 40 * MiB
    rng = random.Random(4)
    data = rng.randbytes(size)
    parts_seen: list[int] = []
    s3_storage.client.meta.events.register("before-parameter-build.s3.UploadPart",
                                           lambda params, **_: parts_seen.append(len(params["Body"]) // MiB))
    tracemalloc.start()
    try:
        with s3_storage.put("backups/large.bin") as upload:
            for offset in range(0, size, MiB):
                upload.write(memoryview(data)[offset:offset + MiB])
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest = hashlib.sha256()
        buf = bytearray(MiB)
        with s3_storage.open_read("backups/large.bin") as stream:
            while n := stream.readinto(buf):
                digest.update(memoryview(buf)[:n])
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parts_seen == [16, 16, 8]
    assert upload_peak < 3 * DEFAULT_PART_SIZE, upload_peak  # bounded by the part size, not the object
    assert read_peak < 8 * MiB, read_peak  # never the whole object in memory
    assert digest.digest() == hashlib.sha256(data).digest()
    assert s3_storage.stat("backups/large.bin").size == size
    assert pending_uploads(rclone_s3, s3_bucket) == []

    boundary = DEFAULT_PART_SIZE
    for start, end in ((0, 100), (boundary - 7, boundary + 9), (size - 5, size), (size - 5, None),
                       (12345, 12345 + 3 * MiB), (size, None), (size + 10, size + 20), (50, 50)):
        with s3_storage.open_read("backups/large.bin", start, end) as stream:
            assert stream.read() == data[start:end], (start, end)
    with s3_storage.open_read("backups/large.bin", 1000, 1000 + 10 * MiB) as stream:
        pieces = []
        while chunk := stream.read(777_777):
            pieces.append(chunk)
        assert b"".join(pieces) == data[1000:1000 + 10 * MiB]


@integration
def test_long_reads_are_consecutive_ranged_gets_of_one_object_version(s3_storage: S3Storage,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_transfer, "READ_SEGMENT", 3 * MiB)
    data = random.Random(7).randbytes(10 * MiB + 12345)
    with s3_storage.put("backups/segments.bin") as upload:
        upload.write(data)
    gets: list[tuple[str | None, str | None]] = []
    s3_storage.client.meta.events.register(
        "before-parameter-build.s3.GetObject",
        lambda params, **_: gets.append((params.get("Range"), params.get("IfMatch"))))
    with s3_storage.open_read("backups/segments.bin") as stream:
        assert stream.read() == data
    segments = range(0, len(data), 3 * MiB)
    assert [r for r, _ in gets] == [f"bytes={o}-{min(o + 3 * MiB, len(data)) - 1}" for o in segments]
    assert gets[0][1] is None and len({m for _, m in gets[1:]}) == 1 and gets[1][1]
    gets.clear()
    with s3_storage.open_read("backups/segments.bin", 5 * MiB, 5 * MiB + 100) as stream:
        assert stream.read() == data[5 * MiB:5 * MiB + 100]
    assert [r for r, _ in gets] == [f"bytes={5 * MiB}-{5 * MiB + 99}"]


@integration
def test_an_object_replaced_while_it_is_read_is_refused(s3_bucket: str, s3_storage: S3Storage,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_transfer, "READ_SEGMENT", 1 * MiB)
    data = random.Random(8).randbytes(5 * MiB)
    with s3_storage.put("backups/replaced.bin") as upload:
        upload.write(data)
    with s3_storage.open_read("backups/replaced.bin") as stream:
        assert stream.read(1000) == data[:1000]
        s3_storage.client.put_object(Bucket=s3_bucket, Key=s3_storage._full("backups/replaced.bin"),
                                     Body=b"y" * len(data))
        with pytest.raises(StorageError, match="was replaced while it was being read"):
            stream.read()


@integration
def test_listing_pages_through_more_than_1000_objects(rclone_s3_private: Callable[..., RcloneS3]) -> None:
    count = 1005
    keys = [f"backups/obj-{i:05d}.bin" for i in range(count)]

    def populate(data: Path) -> None:  # objects copied in as files by another tool: fast, and out-of-band
        (data / "many" / "backups").mkdir(parents=True)
        (data / "many" / "other").mkdir()
        for key in keys:
            (data / "many" / key).write_bytes(b"x")
        (data / "many" / "other" / "not-listed.bin").write_bytes(b"y")

    server = rclone_s3_private(populate=populate)
    s3_storage = server.storage("many")

    calls: list[dict[str, Any]] = []
    s3_storage.client.meta.events.register("before-call.s3.ListObjectsV2",
                                           lambda params, **_: calls.append(dict(params.get("query_string", {}))))
    listed = list(s3_storage.list("backups/"))
    assert sorted(info.key for info in listed) == keys
    assert len(calls) == 2  # the service's own 1000-key pages

    calls.clear()
    s3_storage.page_size = 100
    assert len(list(s3_storage.list("backups/"))) == count
    assert len(calls) == 11
    assert s3_storage.used_bytes("backups/") == count


@integration
def test_prefix_keeps_roles_apart(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    role_a = rclone_s3.storage(s3_bucket, prefix="/site/role-a/")
    role_b = rclone_s3.storage(s3_bucket, prefix="site/role-b")
    role_a.put_bytes("backups/a.enc", b"a")
    role_b.put_bytes("backups/b.enc", b"b")
    assert [i.key for i in role_a.list("backups/")] == ["backups/a.enc"]
    assert [i.key for i in role_b.list("")] == ["backups/b.enc"]
    assert sorted(raw_keys(rclone_s3, s3_bucket)) == ["site/role-a/backups/a.enc", "site/role-b/backups/b.enc"]
    assert role_a.location("backups/a.enc") == f"s3://{s3_bucket}/site/role-a/backups/a.enc"
    assert role_b.get_bytes("backups/b.enc") == b"b"
    expect_error(NotFoundError, lambda: role_b.stat("backups/a.enc"))
    with pytest.raises(UsageError):
        rclone_s3.storage(s3_bucket, prefix="a/../b")
    with pytest.raises(UsageError):
        role_a.open_upload("../escape.enc")


# -- what a user gets wrong ------------------------------------------------------------------------------


@integration
def test_wrong_secret_key_is_an_authentication_error(rclone_s3: RcloneS3, s3_bucket: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # botocore's own debug log included: it must not carry a secret either
    assert round_trip(rclone_s3.storage(s3_bucket)).ok
    wrong = "not-the-secret-9f8e7d6c"
    storage = rclone_s3.storage(s3_bucket, secret_access_key=wrong)
    error = expect_error(StorageError, lambda: list(storage.list("backups/")))
    assert "secret access key" in error.message and "signature does not match" in error.message
    assert rclone_s3.access_key in error.message
    assert "add it again" in error.hint
    report = round_trip(rclone_s3.storage(s3_bucket, secret_access_key=wrong))
    assert not report.ok and report.steps[-1].step == "list" and "secret access key" in report.steps[-1].message
    assert_secret_absent(wrong, error.message, error.hint, error.detail, repr(error), report)
    # A write fails the same way before any byte goes out.
    error = expect_error(StorageError, lambda: rclone_s3.storage(s3_bucket, secret_access_key=wrong)
                         .put_bytes("backups/x.enc", b"x"))
    assert "secret access key" in error.message
    assert raw_keys(rclone_s3, s3_bucket) == []
    assert "SignatureDoesNotMatch" in caplog.text  # the log was really captured
    assert_secret_absent(wrong, caplog.text)
    assert_secret_absent(rclone_s3.secret_key, caplog.text)


@integration
def test_unknown_access_key_is_an_authentication_error(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    storage = rclone_s3.storage(s3_bucket, access_key_id="NOSUCHKEY0000")
    error = expect_error(StorageError, lambda: storage.stat("backups/x.enc"))
    assert "does not know the access key id NOSUCHKEY0000" in error.message
    assert "access key id" in error.hint
    assert_secret_absent(rclone_s3.secret_key, error.message, error.hint, error.detail)


@integration
def test_secret_missing_from_keyring(rclone_s3: RcloneS3, s3_target: TargetConfig) -> None:
    storage = from_config(s3_target, lambda name: None)  # building it needs no secret and no network
    error = expect_error(SecretUnavailableError, lambda: list(storage.list("backups/")))
    assert "secret access key" in error.message and "keyring" in error.message


@integration
def test_default_credential_chain(rclone_s3: RcloneS3, s3_bucket: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    nothing = rclone_s3.storage(s3_bucket, access_key_id=None, secret_access_key=None)
    error = expect_error(StorageError, lambda: list(nothing.list("backups/")))
    assert "No S3 credentials" in error.message and "--access-key-id" in error.hint_for_cli()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", rclone_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", rclone_s3.secret_key)
    config = TargetConfig("iam", "s3", {k: v for k, v in rclone_s3.target_options(s3_bucket).items()
                                        if k != "access_key_id"})
    looked_up: list[str] = []
    storage = from_config(config, lambda name: looked_up.append(name))  # type: ignore[func-returns-value]
    assert round_trip(storage).ok
    assert looked_up == []  # no access key id: no keyring secret is needed


@integration
def test_missing_bucket_is_named(rclone_s3: RcloneS3) -> None:
    storage = rclone_s3.storage("no-such-bucket-here")
    for action in (lambda: list(storage.list("backups/")), lambda: storage.put_bytes("backups/x.enc", b"x")):
        error = expect_error(StorageError, action)
        assert "bucket 'no-such-bucket-here' does not exist" in error.message
        assert "Create the bucket" in error.hint
    report = round_trip(rclone_s3.storage("no-such-bucket-here"))
    assert not report.ok and "does not exist" in report.steps[-1].message


@integration
def test_unreachable_endpoint_fails_fast() -> None:
    storage = S3Storage("gone", "bucket", endpoint_url=f"http://127.0.0.1:{free_port()}", use_tls=False,
                        access_key_id="abc", secret_access_key="def")
    started = time.monotonic()
    error = expect_error(StorageError, lambda: list(storage.list("backups/")))
    assert time.monotonic() - started < 10
    assert "refused the connection" in error.message and "port" in error.hint


@integration
def test_unresolvable_endpoint_is_named() -> None:
    storage = S3Storage("typo", "bucket", endpoint_url="http://no-such-host.invalid:9000", use_tls=False,
                        access_key_id="abc", secret_access_key="def", max_attempts=1)
    started = time.monotonic()
    error = expect_error(StorageError, lambda: storage.stat("backups/x.enc"))
    assert time.monotonic() - started < 20
    assert "no-such-host.invalid" in error.message and "could not be resolved" in error.message
    assert "DNS" in error.hint


@integration
def test_hung_server_times_out(rclone_s3_private: Callable[..., RcloneS3]) -> None:
    server = rclone_s3_private()
    bucket = server.make_bucket()
    storage = server.storage(bucket, read_timeout=1, max_attempts=1)
    assert list(storage.list("backups/")) == []
    server.pause()
    try:
        started = time.monotonic()
        error = expect_error(StorageError, lambda: storage.stat("backups/x.enc"))
        assert time.monotonic() - started < 5
        assert "stopped answering" in error.message
    finally:
        server.resume()


@integration
def test_tls_verification(rclone_s3_private: Callable[..., RcloneS3], monkeypatch: pytest.MonkeyPatch) -> None:
    server = rclone_s3_private(tls=True)
    bucket = server.make_bucket()
    assert server.endpoint_url.startswith("https://")
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    error = expect_error(StorageError, lambda: list(server.storage(bucket, max_attempts=1).list("backups/")))
    assert "TLS certificate" in error.message and "could not be verified" in error.message
    assert "--no-verify-tls" in error.hint_for_cli() and "AWS_CA_BUNDLE" in error.hint

    assert round_trip(server.storage(bucket, verify_tls=False)).ok
    cert = server.tls[0] if server.tls else None
    monkeypatch.setenv("AWS_CA_BUNDLE", str(cert))  # a private CA is honoured when verification is on
    assert round_trip(server.storage(bucket)).ok


@integration
def test_tls_against_plain_http(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    url = rclone_s3.endpoint_url.replace("http://", "https://")
    storage = rclone_s3.storage(s3_bucket, endpoint_url=url, use_tls=True, max_attempts=1)
    error = expect_error(StorageError, lambda: list(storage.list("")))
    assert "does not speak TLS" in error.message and "--no-tls" in error.hint_for_cli()
    with pytest.raises(UsageError, match="plain HTTP"):
        rclone_s3.storage(s3_bucket, use_tls=True)  # an http:// endpoint while TLS is required


@integration
def test_read_only_service_refuses_the_write_step(rclone_s3_private: Callable[..., RcloneS3]) -> None:
    server = rclone_s3_private(extra_args=["--read-only"], buckets=["ro"])
    report = round_trip(server.storage("ro", max_attempts=1))  # 5xx answers are retried otherwise
    assert [s.step for s in report.steps] == ["list", "write"] and not report.steps[-1].ok
    assert "while writing" in report.steps[-1].message and report.steps[-1].hint


# -- the Console on an S3 target ------------------------------------------------------------------


@integration
def test_console_create_list_verify_download_delete(rclone_s3: RcloneS3, s3_bucket: str, tmp_path: Path) -> None:
    config = TargetConfig("offsite", "s3", rclone_s3.target_options(s3_bucket, prefix="prod"))
    console = make_console(rclone_s3, config)
    with open(SAMPLE, "rb") as source:
        record = console.create_backup(source, "offsite", INSTANCE_SECRET, iterations=1000,
                                       source_size=SAMPLE.stat().st_size, source_name=SAMPLE.name)
    keys = raw_keys(rclone_s3, s3_bucket)
    assert sorted(keys) == sorted([f"prod/{record.key}", f"prod/{record.key}.sha256"])

    records, syncs = console.list_backups(["offsite"])
    assert [r.key for r in records] == [record.key] and records[0].metadata is not None
    assert syncs[0].unchanged == 1  # stat (HEAD) and list agree on size, mtime and ETag

    ref = console.locate(record.short_id)
    assert ref.location == f"s3://{s3_bucket}/prod/{record.key}"
    result = console.verify(ref, INSTANCE_SECRET)
    assert result.sidecar_sha256 == result.ciphertext_sha256 == record.sha256
    keyless = console.verify_without_key(ref)
    assert keyless.mode == "keyless" and keyless.ciphertext_sha256 == keyless.sidecar_sha256 == record.sha256

    out = tmp_path / "copy.enc"
    downloaded = console.download(ref, out)
    assert downloaded.sha256 == result.ciphertext_sha256
    assert out.read_bytes() == rclone_s3.client().get_object(Bucket=s3_bucket, Key=f"prod/{record.key}")["Body"].read()
    plain = console.decrypt(ref, tmp_path / "plain.dump", INSTANCE_SECRET)
    assert (tmp_path / "plain.dump").read_bytes() == SAMPLE.read_bytes() and plain.size == SAMPLE.stat().st_size

    # The downloaded copy can be imported into another role's prefix on the same bucket.
    other = TargetConfig("offsite-b", "s3", rclone_s3.target_options(s3_bucket, prefix="other"))
    console.add_target(other, {"secret_access_key": rclone_s3.secret_key})
    imported = console.upload(out, "offsite-b", INSTANCE_SECRET)
    assert f"other/{imported.key}" in raw_keys(rclone_s3, s3_bucket)

    console.delete(console.locate(record.short_id, target="offsite"))
    assert sorted(raw_keys(rclone_s3, s3_bucket, "prod/")) == []
    assert console.list_backups(["offsite"])[0] == []

    # No secret in settings, catalog or audit log.
    paths = console.paths
    for file in (paths.config_dir / "targets.json", paths.catalog_file, paths.audit_file):
        assert rclone_s3.secret_key.encode() not in file.read_bytes()
    assert json.loads((paths.config_dir / "targets.json").read_text())["targets"][0]["options"]["bucket"] == s3_bucket


@integration
def test_out_of_band_objects_appear_and_disappear(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    config = TargetConfig("shared", "s3", rclone_s3.target_options(s3_bucket, prefix="team"))
    console = make_console(rclone_s3, config)
    assert console.list_backups(["shared"])[0] == []
    client = rclone_s3.client()
    client.put_object(Bucket=s3_bucket, Key=f"team/{backup_name('0badf00d')}", Body=b"not really a backup")
    client.put_object(Bucket=s3_bucket, Key="elsewhere/" + backup_name("11111111"), Body=b"other prefix")
    records, syncs = console.list_backups(["shared"])
    assert [r.key for r in records] == [backup_name("0badf00d")] and syncs[0].added == 1
    assert records[0].short_id == "0badf00d"
    client.delete_object(Bucket=s3_bucket, Key=f"team/{backup_name('0badf00d')}")
    records, syncs = console.list_backups(["shared"])
    assert records == [] and syncs[0].removed == 1


@integration
def test_quota_is_refused_before_any_upload(rclone_s3: RcloneS3, s3_bucket: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = TargetConfig("small", "s3", rclone_s3.target_options(s3_bucket), quota=20_000)
    console = make_console(rclone_s3, config)
    rclone_s3.client().put_object(Bucket=s3_bucket, Key=backup_name(), Body=b"z" * 15_000)
    storage = from_config(config, rclone_s3.secrets())
    writes: list[str] = []
    for op in ("PutObject", "CreateMultipartUpload", "UploadPart"):
        storage.client.meta.events.register(f"before-call.s3.{op}", lambda model, **_: writes.append(model.name))
    monkeypatch.setattr(console, "_open", lambda cfg: storage)
    with open(SAMPLE, "rb") as source:
        error = expect_error(QuotaExceededError, lambda: console.create_backup(
            source, "small", INSTANCE_SECRET, iterations=1000, source_size=SAMPLE.stat().st_size))
    assert "quota" in error.message and error.hint
    assert writes == []
    assert raw_keys(rclone_s3, s3_bucket) == [backup_name()]
    assert console.catalog.records() == []


@integration
def test_server_killed_mid_upload(rclone_s3_private: Callable[..., RcloneS3], monkeypatch: pytest.MonkeyPatch) -> None:
    server = rclone_s3_private()
    bucket = server.make_bucket()
    config = TargetConfig("fragile", "s3", server.target_options(bucket))
    console = make_console(server, config)
    storage = from_config(config, server.secrets())
    storage.max_attempts = 2  # keeps the test short; the default (3 tries) is timed in test_unreachable_endpoint
    storage.part_size = 1024  # rclone accepts small parts: a few-KB backup becomes a real multipart upload
    parts: list[int] = []

    def crash_after_first_part(**_: Any) -> None:
        parts.append(1)
        if len(parts) == 1:
            server.kill()

    storage.client.meta.events.register("after-call.s3.UploadPart", crash_after_first_part)
    monkeypatch.setattr(console, "_open", lambda cfg: storage)
    started = time.monotonic()
    with open(SAMPLE, "rb") as source:
        error = expect_error(StorageError, lambda: console.create_backup(
            source, "fragile", INSTANCE_SECRET, iterations=1000, source_size=SAMPLE.stat().st_size))
    assert time.monotonic() - started < 20
    assert parts == [1]
    assert "refused the connection while writing" in error.message
    assert console.catalog.records() == []
    last = list(console.audit.entries())[-1]
    assert (last.action, last.result) == ("backup.create", "failed") and "refused" in last.detail["error"]

    server.start()
    assert list(from_config(config, server.secrets()).list("")) == []
    assert [k for k in raw_keys(server, bucket) if not k.rsplit("/", 1)[-1].startswith(".")] == []
    assert pending_uploads(server, bucket) == []
    assert console.list_backups(["fragile"])[0] == []


def _big_out_of_band_backup(server: RcloneS3, bucket: str, size: int) -> bytes:
    data = random.Random(7).randbytes(size)
    server.client().put_object(Bucket=bucket, Key=backup_name(), Body=data)
    return data


class _OnFirstAdvance(Reporter):
    def __init__(self, action: Callable[[], None]) -> None:
        super().__init__()
        self.action: Callable[[], None] | None = action

    def advance(self, nbytes: int) -> None:
        if self.action is not None:
            action, self.action = self.action, None
            action()
        super().advance(nbytes)


@integration
def test_server_killed_mid_download(rclone_s3_private: Callable[..., RcloneS3], tmp_path: Path) -> None:
    server = rclone_s3_private()
    bucket = server.make_bucket()
    console = make_console(server, TargetConfig("fragile", "s3", server.target_options(bucket, max_attempts=2)))
    _big_out_of_band_backup(server, bucket, 32 * MiB)
    records, _ = console.list_backups(["fragile"])
    ref = console.locate(records[0].short_id)
    out_dir = tmp_path / "downloads"
    out_dir.mkdir()
    started = time.monotonic()
    error = expect_error(StorageError, lambda: console.download(ref, out_dir / "copy.enc",
                                                                reporter=_OnFirstAdvance(server.kill)))
    assert time.monotonic() - started < 20
    assert "broke off at byte" in error.message and "refused the connection" in error.message
    assert list(out_dir.iterdir()) == []  # neither the file nor a temporary part


@integration
def test_download_resumes_after_a_server_restart(rclone_s3_private: Callable[..., RcloneS3], tmp_path: Path) -> None:
    server = rclone_s3_private()
    bucket = server.make_bucket()
    console = make_console(server, TargetConfig("bouncy", "s3", server.target_options(bucket)))
    data = _big_out_of_band_backup(server, bucket, 32 * MiB)
    ref = console.locate(console.list_backups(["bouncy"])[0][0].short_id)
    result = console.download(ref, tmp_path / "copy.enc", reporter=_OnFirstAdvance(server.restart))
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "copy.enc").stat().st_size == len(data)


# -- `target add s3` -------------------------------------------------------------------------------


@integration
def test_cli_target_add_and_test(rclone_s3: RcloneS3, s3_bucket: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from recovery_console.cli.main import build_parser
    from recovery_console.engine import console as console_module

    store = FakeSecrets()
    monkeypatch.setattr(console_module, "SecretStore", lambda: store)
    parser = build_parser(["target"])

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        try:
            return int(args.func(args))
        except RecoveryError as exc:
            print(f"Error: {exc.message}\n{exc.hint}")
            return int(exc.exit_code)

    monkeypatch.setenv("S3_SECRET_FOR_TEST", rclone_s3.secret_key)
    argv = ["target", "add", "s3", "cli-s3", "--bucket", s3_bucket, "--endpoint-url", rclone_s3.endpoint_url,
            "--no-tls", "--region", "us-east-1", "--access-key-id", rclone_s3.access_key,
            "--secret-access-key-env", "S3_SECRET_FOR_TEST", "--prefix", "cli/", "--quota", "1G"]
    assert run(*argv) == 0
    assert store.get(target_scope("cli-s3"), "secret_access_key") == rclone_s3.secret_key
    saved = json.loads((Console().paths.config_dir / "targets.json").read_text())["targets"][0]
    assert saved["options"]["prefix"] == "cli" and saved["quota"] == 1 << 30 and saved["options"]["use_tls"] is False
    assert rclone_s3.secret_key not in json.dumps(saved) and rclone_s3.secret_key not in " ".join(argv)
    assert run("target", "test", "cli-s3") == 0
    assert "works." in capsys.readouterr().out

    secret_file = tmp_path / "secret"
    secret_file.write_text("wrong-secret-from-file\n")
    assert run("target", "add", "s3", "cli-bad", "--bucket", s3_bucket, "--endpoint-url", rclone_s3.endpoint_url,
               "--no-tls", "--access-key-id", rclone_s3.access_key, "--secret-access-key-file", str(secret_file)) == 0
    assert store.get(target_scope("cli-bad"), "secret_access_key") == "wrong-secret-from-file"
    assert run("target", "test", "cli-bad") == 6
    out = capsys.readouterr().out
    assert "FAIL  list" in out and "secret access key" in out and "wrong-secret-from-file" not in out

    # http:// without --no-tls is refused; a secret without an access key id is refused; no TTY, no prompt.
    assert run("target", "add", "s3", "cli-http", "--bucket", s3_bucket, "--endpoint-url", rclone_s3.endpoint_url) == 2
    assert run("target", "add", "s3", "cli-nokey", "--bucket", s3_bucket, "--secret-access-key-env", "X") == 2
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run("target", "add", "s3", "cli-prompt", "--bucket", s3_bucket, "--access-key-id", "abc") == 8
    capsys.readouterr()


# -- permissions and SSE-KMS, on moto with IAM policies enforced ---------------------------------------


@integration
def test_permission_denied_names_the_operation(moto_iam: Any) -> None:
    # (moto miscomputes SigV4 for a query value holding '/', so no listing with the 'backups/' prefix here.)
    bucket = moto_iam.make_bucket()
    moto_iam.client().put_object(Bucket=bucket, Key="backups/existing.enc", Body=b"e")

    writer = moto_iam.storage(bucket, moto_iam.make_user(bucket, ["s3:PutObject", "s3:ListBucket"]))
    writer.put_bytes("backups/new.enc", b"n")
    error = expect_error(StorageError, lambda: writer.get_bytes("backups/existing.enc"))
    assert error.message.startswith("Permission denied while reading") and "s3:GetObject" in error.hint
    error = expect_error(StorageError, lambda: writer.delete("backups/existing.enc"))
    assert error.message.startswith("Permission denied while deleting") and "s3:DeleteObject" in error.hint

    reader = moto_iam.storage(bucket, moto_iam.make_user(bucket, ["s3:GetObject", "s3:ListBucket"]))
    assert reader.get_bytes("backups/existing.enc") == b"e"
    error = expect_error(StorageError, lambda: reader.put_bytes("backups/x.enc", b"x"))
    assert error.message.startswith("Permission denied while writing") and "s3:PutObject" in error.hint

    # A key that may not list (HEAD bucket is refused too) still reads, writes and deletes.
    blind = moto_iam.storage(bucket, moto_iam.make_user(bucket, ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]))
    blind.put_bytes("backups/blind.enc", b"b")
    assert blind.get_bytes("backups/blind.enc") == b"b"
    blind.delete("backups/blind.enc")
    error = expect_error(StorageError, lambda: list(blind.list("")))
    assert error.message.startswith("Permission denied while listing") and "s3:ListBucket" in error.hint


@integration
def test_sse_kms_is_applied_to_single_and_multipart_uploads(moto_iam: Any) -> None:
    bucket = moto_iam.make_bucket()
    key_id = moto_iam.client("kms").create_key()["KeyMetadata"]["KeyId"]
    storage = moto_iam.storage(bucket, moto_iam.admin, kms_key_id=key_id, part_size=MIN_PART_SIZE)
    storage.put_bytes("backups/small.enc", b"s")
    big = os.urandom(MIN_PART_SIZE + 10)
    storage.put_bytes("backups/big.enc", big)
    client = moto_iam.client()
    for key in ("backups/small.enc", "backups/big.enc"):
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and key_id in head["SSEKMSKeyId"]
    assert storage.get_bytes("backups/big.enc") == big
    plain = moto_iam.storage(bucket, moto_iam.admin)
    plain.put_bytes("backups/plain.enc", b"p")
    assert client.head_object(Bucket=bucket, Key="backups/plain.enc").get("ServerSideEncryption") != "aws:kms"


# -- error mapping for answers no test server gives -------------------------------------------------


def _client_error(code: str, status: int, operation: str = "PutObject", message: str = "",
                  headers: dict[str, str] | None = None) -> bce.ClientError:
    return bce.ClientError({"Error": {"Code": code, "Message": message},
                            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}}, operation)


@pytest.mark.parametrize(("code", "status", "action", "kind", "words"), [
    ("AccessDenied", 403, "writing", StorageError, ["Permission denied while writing", "s3:PutObject"]),
    ("AccessDenied", 403, "reading", StorageError, ["Permission denied while reading", "s3:GetObject"]),
    ("AccessDenied", 403, "deleting", StorageError, ["Permission denied while deleting", "s3:DeleteObject"]),
    ("AccessDenied", 403, "listing", StorageError, ["Permission denied while listing", "s3:ListBucket"]),
    ("NoSuchKey", 404, "reading", NotFoundError, ["does not exist"]),
    ("EntityTooLarge", 400, "writing", QuotaExceededError, ["quota or the size limit", "EntityTooLarge"]),
    ("XMinioStorageFull", 507, "writing", QuotaExceededError, ["quota"]),
    ("KMS.NotFoundException", 400, "writing", StorageError, ["KMS key", "kms:GenerateDataKey"]),
    ("RequestTimeTooSkewed", 403, "listing", StorageError, ["clock"]),
    ("ExpiredToken", 400, "listing", StorageError, ["expired"]),
    ("PermanentRedirect", 301, "listing", StorageError, ["region eu-west-3", "--region eu-west-3"]),
    ("SlowDown", 503, "writing", StorageError, ["try again later"]),
    ("BadDigest", 400, "writing", StorageError, ["damaged in transit"]),
])
def test_error_mapping(code: str, status: int, action: str, kind: type, words: list[str]) -> None:
    storage = S3Storage("mapped", "bkt", endpoint_url="https://s3.example", access_key_id="AKIAEXAMPLE",
                        secret_access_key="sUpErSeCrEt", kms_key_id="alias/backups")
    error = storage._error(_client_error(code, status, headers={"x-amz-bucket-region": "eu-west-3"}),
                           action, "backups/x.enc")
    assert type(error) is kind
    text = f"{error.message} {error.hint} {error.hint_for_cli()}"  # the window's words and the CLI's
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    assert error.hint and "--" not in error.hint  # the window's hint names no flag
    assert "sUpErSeCrEt" not in text


def test_connect_timeout_is_named() -> None:
    # A black-holed address cannot be provoked reliably on every CI network; the mapping is checked here.
    storage = S3Storage("slow", "bkt", endpoint_url="https://s3.example", connect_timeout=5)
    error = storage._error(bce.ConnectTimeoutError(endpoint_url="https://s3.example/bkt"), "writing", "k")
    assert "timed out after 5 s" in error.message and "firewall" in error.hint


def test_error_mapping_never_shows_the_secret() -> None:
    storage = S3Storage("mapped", "bkt", endpoint_url="https://s3.example", access_key_id="AKIAEXAMPLE",
                        secret_access_key="sUpErSeCrEt")
    storage._secret = "sUpErSeCrEt"
    error = storage._error(_client_error("Weird", 400, message="echoing sUpErSeCrEt back"), "writing", "k")
    assert "sUpErSeCrEt" not in error.message + error.hint + error.detail and "********" in error.message


def test_endpoint_and_tls_settings_are_checked() -> None:
    with pytest.raises(UsageError, match="plain HTTP"):
        S3Storage("x", "b", endpoint_url="http://minio:9000")
    with pytest.raises(UsageError, match="HTTPS"):
        S3Storage("x", "b", endpoint_url="https://minio:9000", use_tls=False)
    assert S3Storage("x", "b", endpoint_url="minio:9000").endpoint_url == "https://minio:9000"
    assert S3Storage("x", "b", endpoint_url="minio:9000", use_tls=False).endpoint_url == "http://minio:9000"
    with pytest.raises(UsageError):
        S3Storage("x", "b/c")
    config = TargetConfig("t", "s3", {"bucket": "b", "use_tls": "false", "verify_tls": "no",
                                      "endpoint_url": "10.0.0.5:9000", "prefix": "a/b/"})
    storage = from_config(config, lambda name: None)
    assert (storage.use_tls, storage.verify_tls, storage.prefix) == (False, False, "a/b/")
    assert storage.location("backups/k.enc") == "s3://b/a/b/backups/k.enc"
    with pytest.raises(UsageError, match="no bucket"):
        from_config(TargetConfig("t", "s3", {}), lambda name: None)


@integration
def test_the_console_reuses_one_client_and_closes_its_connections(
        rclone_s3: RcloneS3, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib3.connection

    clients: list[Any] = []
    connections: list[Any] = []
    make_client, connect = S3Storage._make_client, urllib3.connection.HTTPConnection.connect
    monkeypatch.setattr(S3Storage, "_make_client", lambda self: clients.append(make_client(self)) or clients[-1])
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect",
                        lambda self: (connections.append(self), connect(self))[1])
    console = make_console(rclone_s3, TargetConfig("offsite", "s3", rclone_s3.target_options(s3_bucket)))
    with open(SAMPLE, "rb") as source:
        record = console.create_backup(source, "offsite", INSTANCE_SECRET, iterations=1000)
    console.inspect(console.locate(record.backup_id), INSTANCE_SECRET)  # stops reading early: drops its socket
    ref = console.locate(record.short_id)
    console.verify(ref, INSTANCE_SECRET)
    console.download(ref, tmp_path / "copy.enc")
    console.list_backups(["offsite"])
    assert len(clients) == 1  # six operations, one client and its connection pool
    assert len(connections) == 2, connections  # the first, and the one after inspect's early close
    assert connections[-1].sock is not None  # kept open for the next request
    console.close()
    assert all(c.sock is None for c in connections)  # every socket closed
    assert console.list_backups(["offsite"])[0][0].key == record.key  # used again: a new client
    assert len(clients) == 2
    console.close()


class AckLedger:
    """Counts, from botocore's own events on a storage's client, the part bytes the server has answered 200
    for and how many parts were in flight at once; `acknowledged` is the upload's progress callback and checks
    it is never told of more than that."""

    def __init__(self, storage: S3Storage) -> None:
        self.lock = threading.Lock()
        self.confirmed = 0
        self.reported = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.senders: set[str] = set()
        events = storage.client.meta.events
        events.register("before-call.s3.UploadPart", self._before)
        events.register("after-call.s3.UploadPart", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["rc_part_bytes"] = len(params["body"])
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.senders.add(threading.current_thread().name)

    def _after(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        with self.lock:
            self.in_flight -= 1
            if http_response.status_code == 200:
                self.confirmed += context["rc_part_bytes"]

    def acknowledged(self, n: int) -> None:
        with self.lock:
            self.reported += n
            assert self.reported <= self.confirmed, (self.reported, self.confirmed)


@integration
def test_parallel_parts_report_only_what_the_server_confirmed(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    storage = rclone_s3.storage(s3_bucket, part_size=MIN_PART_SIZE, parts_in_flight=4)
    ledger = AckLedger(storage)
    data = random.Random(16).randbytes(12 * MIN_PART_SIZE + 12345)
    with storage.put_acknowledged("backups/parallel.bin", ledger.acknowledged) as upload:
        for offset in range(0, len(data), 3 * MiB):
            upload.write(memoryview(data)[offset:offset + 3 * MiB])
            assert ledger.reported <= ledger.confirmed <= offset + 3 * MiB
        assert raw_keys(rclone_s3, s3_bucket, "backups/") == []  # nothing visible before the completion
    assert ledger.reported == ledger.confirmed == len(data)
    assert ledger.most_in_flight > 1 and threading.current_thread().name not in ledger.senders
    assert storage.get_bytes("backups/parallel.bin") == data
    assert pending_uploads(rclone_s3, s3_bucket) == []


@integration
def test_a_cancelled_parallel_upload_aborts_and_leaves_nothing(rclone_s3: RcloneS3, s3_bucket: str) -> None:
    storage = rclone_s3.storage(s3_bucket, part_size=MIN_PART_SIZE, parts_in_flight=4)
    ledger = AckLedger(storage)
    data = random.Random(17).randbytes(MiB)
    # Cancelled as Reporter.advance raises it when the user cancels
    with pytest.raises(Cancelled), storage.put_acknowledged("backups/cancelled.bin", ledger.acknowledged) as upload:
        for _ in range(40):
            upload.write(data)
            if ledger.reported >= 3 * MIN_PART_SIZE:
                raise Cancelled()
    assert ledger.in_flight == 0  # the abort waited for the parts in flight
    assert raw_keys(rclone_s3, s3_bucket) == []
    assert pending_uploads(rclone_s3, s3_bucket) == []


@integration
def test_a_parallel_upload_that_fails_mid_way_leaves_nothing(rclone_s3_private: Callable[..., RcloneS3]) -> None:
    server = rclone_s3_private()
    bucket = server.make_bucket()
    storage = server.storage(bucket, part_size=MIN_PART_SIZE, parts_in_flight=4, max_attempts=1)
    ledger = AckLedger(storage)
    data = random.Random(18).randbytes(MiB)
    with pytest.raises(StorageError, match="while writing"), \
            storage.put_acknowledged("backups/broken.bin", ledger.acknowledged) as upload:
        for _ in range(60):
            upload.write(data)
            if ledger.confirmed >= 2 * MIN_PART_SIZE:
                server.kill()  # once: a second kill of the dead process does nothing
    assert ledger.reported <= ledger.confirmed
    server.start()
    assert list(storage.list("")) == []
    assert [k for k in raw_keys(server, bucket) if not k.rsplit("/", 1)[-1].startswith(".")] == []
    assert pending_uploads(server, bucket) == []

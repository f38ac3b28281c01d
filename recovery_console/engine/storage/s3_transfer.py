"""S3 uploads and reads: multipart puts with one part buffered, and segmented ranged GETs read ahead."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import botocore.exceptions as bce
import urllib3.exceptions

from recovery_console.engine.background import in_background
from recovery_console.engine.storage.base import Upload
from recovery_console.errors import QuotaExceededError, RecoveryError, StorageError, UsageError

log = logging.getLogger(__name__)

MiB = 1 << 20
DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's floor for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
PART_GROWTH_EVERY = 2_000  # the part size doubles every this many parts, so 10,000 parts reach ~1 TiB
READ_RESUMES = 2  # a ranged GET whose connection breaks is resumed from where it stopped this often
READ_PIECE = 1 * MiB  # one body read: the HTTP stack makes a temporary of this size (8 MiB pushed peak RSS to 148 MB)
READ_SEGMENT = 32 * MiB  # one ranged GET of a long read; rclone serve s3 spends 2x the CPU per byte on unbounded GETs


def bare_etag(value: str | None) -> str | None:
    """An ETag without the quotes HTTP puts around it."""
    return value.strip('"') if value else None


def md5(data: bytes | bytearray) -> str:
    """The Content-MD5 header of a request body."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def part_limit(part_size: int, number: int) -> int:
    """The size of part `number` (1-based): `part_size`, doubled every PART_GROWTH_EVERY parts."""
    return min(MAX_PART_SIZE, max(1, part_size) << ((number - 1) // PART_GROWTH_EVERY))


class ErrorTranslator(Protocol):
    """Turns a botocore/urllib3 failure while `action` ('writing', …) `key` into the project error."""

    def __call__(self, exc: BaseException, action: str, key: str | None = None) -> RecoveryError: ...


@dataclass(frozen=True)
class S3Object:
    """One object, and what its upload or reader needs to reach it and to report a failure on it."""

    client: Any
    bucket: str
    key: str  # the storage key ('backups/x.enc'), as failures name it
    full: str  # the key in the bucket, the target's prefix included
    location: str  # s3://BUCKET/PREFIX/KEY, for messages
    target: str  # the target's name, for log lines
    error: ErrorTranslator


class S3Upload(Upload):
    """A put in progress: one buffered part in memory; a single PUT when small, multipart otherwise.

    Parts start at `part_size` bytes; `sse` holds the server-side encryption arguments of every write.
    """

    def __init__(self, target: S3Object, part_size: int, sse: dict[str, str]) -> None:
        self.target = target
        self.part_size = part_size
        self.sse = sse
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.size = 0
        self.done = False

    def _part_limit(self) -> int:
        return part_limit(self.part_size, len(self.parts) + 1)

    def write(self, data: bytes | memoryview) -> None:
        if self.done:
            raise UsageError(f"The upload of {self.target.location} is already finished.")
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
        t = self.target
        number = len(self.parts) + 1
        if number > MAX_PARTS:
            raise QuotaExceededError(
                f"{t.location} would be larger than one S3 object may be (10,000 parts).",
                hint="Split the backup, or raise the target's part size.")
        body, self.buffer = bytes(self.buffer), bytearray()
        try:
            if self.upload_id is None:
                created = t.client.create_multipart_upload(Bucket=t.bucket, Key=t.full, **self.sse)
                self.upload_id = created["UploadId"]
            answer = t.client.upload_part(Bucket=t.bucket, Key=t.full, UploadId=self.upload_id, PartNumber=number,
                                          Body=body, ContentMD5=md5(body))
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            raise t.error(exc, "writing", t.key) from None
        self.parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def commit(self) -> None:
        if self.done:
            raise UsageError(f"The upload of {self.target.location} is already finished.")
        t = self.target
        try:
            if self.upload_id is None:
                body, self.buffer = bytes(self.buffer), bytearray()
                try:
                    t.client.put_object(Bucket=t.bucket, Key=t.full, Body=body, ContentMD5=md5(body), **self.sse)
                except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                    raise t.error(exc, "writing", t.key) from None
            else:
                if self.buffer:
                    self._send_part()
                try:
                    t.client.complete_multipart_upload(Bucket=t.bucket, Key=t.full, UploadId=self.upload_id,
                                                       MultipartUpload={"Parts": self.parts})
                except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                    raise t.error(exc, "writing", t.key) from None
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
        t = self.target
        try:
            t.client.abort_multipart_upload(Bucket=t.bucket, Key=t.full, UploadId=self.upload_id)
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            # The failure that made us abort matters more; the parts are invisible to listings anyway.
            log.warning("S3 target '%s': could not abort the incomplete upload of %s (%s); the service keeps its "
                        "parts until a lifecycle rule (AbortIncompleteMultipartUpload) removes them.",
                        t.target, t.location, type(exc).__name__)


class S3Reader(io.RawIOBase):
    """Bytes [start, end) of an object, read in pieces from consecutive ranged GETs of READ_SEGMENT bytes.

    The next segment's GET is sent while the current one streams, so request latency hides behind
    the transfer; only its headers are read ahead, its body waits in the socket. Every GET after
    the first names the first one's ETag, so all segments come from one version of the object. A
    broken connection is resumed where it stopped.
    """

    def __init__(self, target: S3Object | None, start: int, end: int | None) -> None:
        super().__init__()
        self._target = target
        self._pos = start
        self._end = end
        self._segment_end = start
        self._etag: str | None = None
        self._body: Any = None
        self._resumes = 0
        self._ahead: Future[dict[str, Any] | None] | None = None
        if target is not None:
            self._take(self._get(start, self._segment_stop(start)), start)

    @classmethod
    def empty(cls) -> S3Reader:
        return cls(None, 0, 0)

    def _segment_stop(self, start: int) -> int:
        stop = start + READ_SEGMENT
        return stop if self._end is None else min(stop, self._end)

    def _get(self, start: int, stop: int) -> dict[str, Any] | None:
        """One GET of [start, stop) (less at the object's end); None when nothing is there (InvalidRange)."""
        t = self._target
        assert t is not None
        args: dict[str, Any] = {"Bucket": t.bucket, "Key": t.full, "Range": f"bytes={start}-{stop - 1}"}
        if self._etag:
            args["IfMatch"] = f'"{self._etag}"'
        try:
            answer: dict[str, Any] = t.client.get_object(**args)
        except bce.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "InvalidRange":  # starting at or past the end: nothing to read, as with a local file
                return None
            if code == "PreconditionFailed":
                raise self._replaced() from None
            raise t.error(exc, "reading", t.key) from None
        except (bce.BotoCoreError, OSError) as exc:
            raise t.error(exc, "reading", t.key) from None
        etag = bare_etag(answer.get("ETag"))
        if self._etag is not None and etag is not None and etag != self._etag:
            answer["Body"].close()
            raise self._replaced()
        return answer

    def _replaced(self) -> StorageError:
        assert self._target is not None
        return StorageError(f"{self._target.location} was replaced while it was being read.",
                            hint="Read it again; nothing partial was kept.")

    def _take(self, answer: dict[str, Any] | None, start: int) -> None:
        """Stream from this GET's body, learn the object's end from its first one, and send the next GET ahead."""
        if answer is None:
            self._body, self._end, self._segment_end = None, start, start
            return
        self._etag = self._etag or bare_etag(answer.get("ETag"))
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
        t = self._target
        assert t is not None
        self._close_body()
        broken = t.error(exc, "reading", t.key)
        if self._resumes >= READ_RESUMES:
            raise broken
        self._resumes += 1
        log.info("S3 target '%s': the download of %s broke at byte %d (%s); resuming.",
                 t.target, t.location, self._pos, type(exc).__name__)
        try:
            answer = self._get(self._pos, self._segment_end)
        except RecoveryError as again:
            raise StorageError(
                f"Reading {t.location} broke off at byte {self._pos:,} of {self._end or 0:,}, and "
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
            except Exception:  # the stream may already be broken
                where = self._target.location if self._target is not None else "an S3 object"
                log.debug("closing the body of %s failed", where, exc_info=True)
            self._body = None

    def close(self) -> None:
        self._close_body()
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.add_done_callback(close_answer)
        super().close()

    def __enter__(self) -> S3Reader:
        return self


def close_answer(done: Future[dict[str, Any] | None]) -> None:
    """Close the body of a GET sent ahead that nobody will read."""
    if done.cancelled() or done.exception() is not None:
        return
    answer = done.result()
    if answer is not None:
        answer["Body"].close()


def _total_size(content_range: str | None) -> int | None:
    """The object's size from a Content-Range header ("bytes 0-99/1234"), if it says."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None

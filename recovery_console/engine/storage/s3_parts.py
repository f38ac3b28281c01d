"""S3 multipart puts with several parts in flight, whose progress counts only parts the service acknowledged.

Like boto3's TransferManager: the caller's writes fill one part while a few earlier ones are sent on
their own threads. Unlike it, the caller learns how far the upload is only from parts the service has
confirmed (the `acknowledged` callback, always on the writing thread, so a Cancelled raised there
aborts the upload like any other failure). An abort waits for the parts still being sent before it
aborts the multipart upload, so none can land after it; the object appears only on completion.

Parts carry no Content-MD5 (boto3's upload_file sends none either): hashing every part again cost about
1.6 ms of CPU per MiB here, and rclone hashing it again to check it about as much, on 2 cores. In transit
a part is covered by SigV4's signed payload hash over plain HTTP and by TLS over HTTPS, and the caller,
replication, proves the whole copy by reading it back against the sidecar's SHA-256.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait

import botocore.exceptions as bce

from recovery_console.engine.background import in_background
from recovery_console.engine.storage.base import Upload
from recovery_console.engine.storage.s3_transfer import MAX_PARTS, S3Object, md5, part_limit
from recovery_console.errors import QuotaExceededError, UsageError

log = logging.getLogger(__name__)

PARTS_IN_FLIGHT = 4  # parts sent at once (boto3 sends 10); see bench/replicate.py
PART_SIZE = 8 << 20  # boto3's: rclone serve s3 writes the parts in order, and the request of the part it waited for
# also writes the parts buffered behind it before it answers; smaller parts keep that answer well inside the timeout
ABORT_WAIT = 60.0  # seconds an abort waits for the parts still being sent, so that none lands after it

Part = tuple[int, int, Future[str]]  # (part number, bytes, the ETag once the service has it)


class S3ParallelUpload(Upload):
    """A multipart put with up to `workers` parts in flight; `acknowledged(n)` as each part is confirmed.

    Parts are PART_SIZE, or `part_size` when that is smaller. Memory: `workers` parts being sent plus the
    one filling. An object smaller than one part is a single PUT, acknowledged when it returns.
    """

    def __init__(self, target: S3Object, part_size: int, sse: dict[str, str], workers: int,
                 acknowledged: Callable[[int], None]) -> None:
        self.target = target
        self.part_size = min(part_size, PART_SIZE)
        self.sse = sse
        self.workers = max(1, workers)
        self.acknowledged = acknowledged
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.numbered = 0
        self.sending: list[Part] = []
        self.etags: dict[int, str] = {}
        self.done = False

    def write(self, data: bytes | memoryview) -> None:
        if self.done:
            raise UsageError(f"The upload of {self.target.location} is already finished.")
        view = memoryview(data).cast("B")
        while len(view):
            limit = part_limit(self.part_size, self.numbered + 1)
            room = limit - len(self.buffer)
            self.buffer += view[:room]
            view = view[room:]
            if len(self.buffer) >= limit:
                self._send_part()

    def _send_part(self) -> None:
        t = self.target
        number = self.numbered + 1
        if number > MAX_PARTS:
            raise QuotaExceededError(
                f"{t.location} would be larger than one S3 object may be (10,000 parts).",
                hint="Split the backup, or raise the target's part size.")
        if self.upload_id is None:
            try:
                created = t.client.create_multipart_upload(Bucket=t.bucket, Key=t.full, **self.sse)
            except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                raise t.error(exc, "writing", t.key) from None
            self.upload_id = created["UploadId"]
        while len(self.sending) >= self.workers:
            self._collect(first_only=True)
        body, self.buffer = self.buffer, bytearray()  # the bytearray itself is the request body: no copy
        self.numbered = number
        self.sending.append((number, len(body), in_background(self._put_part, self.upload_id, number, body,
                                                              name="rc-s3-part")))

    def _put_part(self, upload_id: str, number: int, body: bytearray) -> str:
        t = self.target
        answer = t.client.upload_part(Bucket=t.bucket, Key=t.full, UploadId=upload_id, PartNumber=number, Body=body)
        return str(answer["ETag"])

    def _collect(self, first_only: bool) -> None:
        """Wait for one part (or all) to be confirmed; record each confirmed part, then report its bytes."""
        t = self.target
        while self.sending:
            wait([future for _, _, future in self.sending], return_when=FIRST_COMPLETED)
            finished = [part for part in self.sending if part[2].done()]
            self.sending = [part for part in self.sending if not part[2].done()]
            for number, _, future in finished:
                try:
                    self.etags[number] = future.result()
                except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
                    raise t.error(exc, "writing", t.key) from None
            for _, size, _ in finished:
                self.acknowledged(size)
            if first_only:
                return

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
                self.acknowledged(len(body))
            else:
                if self.buffer:
                    self._send_part()
                self._collect(first_only=False)
                parts = [{"PartNumber": n, "ETag": self.etags[n]} for n in sorted(self.etags)]
                try:
                    t.client.complete_multipart_upload(Bucket=t.bucket, Key=t.full, UploadId=self.upload_id,
                                                       MultipartUpload={"Parts": parts})
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
        sending, self.sending = self.sending, []
        # A part still being sent could land after the abort and outlive it (S3 keeps such parts).
        _, still_running = wait([future for _, _, future in sending], timeout=ABORT_WAIT)
        if self.upload_id is None:
            return
        t = self.target
        if still_running:
            log.warning("S3 target '%s': parts of %s were still being sent %g s after the abort began (%d); "
                        "aborting anyway.", t.target, t.location, ABORT_WAIT, len(still_running))
        try:
            t.client.abort_multipart_upload(Bucket=t.bucket, Key=t.full, UploadId=self.upload_id)
        except (bce.BotoCoreError, bce.ClientError, OSError) as exc:
            # The failure that made us abort matters more; the parts are invisible to listings anyway.
            log.warning("S3 target '%s': could not abort the incomplete upload of %s (%s); the service keeps its "
                        "parts until a lifecycle rule (AbortIncompleteMultipartUpload) removes them.",
                        t.target, t.location, type(exc).__name__)


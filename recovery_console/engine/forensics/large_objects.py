"""An archive's large objects, read from its BLOBS data blocks with no server, each written to DIR/<oid>.

pg_dump stores them as (OID, that object's chunks, an empty chunk)… ending with OID 0, every object
compressed as a stream of its own; PG 17+ splits them over several BLOBS entries (groups of up to
1000, with "BLOB METADATA" entries), earlier versions use one BLOBS entry and a "BLOB" entry each.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from recovery_console.engine.archive.cursor import OFFSET_NO_DATA
from recovery_console.engine.archive.data_blocks import BLOCK_BLOBS, large_objects, walk
from recovery_console.engine.archive.pgarchive import Archive
from recovery_console.engine.archive.table_data import block_text
from recovery_console.engine.forensics.source import OpenedSource
from recovery_console.engine.progress import Reporter
from recovery_console.engine.state.atomic import atomic_output
from recovery_console.engine.state.runtime_dir import RuntimeDir
from recovery_console.errors import IntegrityError, NotFoundError, UsageError, from_os_error
from recovery_console.formatting import counted


@dataclass(frozen=True)
class ExportedObject:
    """One large object written out: its OID, file, size and SHA-256."""

    oid: int
    path: Path
    size: int
    sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"oid": self.oid, "path": str(self.path), "size": self.size, "sha256": self.sha256}


def blobs_entries(archive: Archive) -> set[int]:
    """The dump ids of the BLOBS entries whose data the TOC promises."""
    return {e.dump_id for e in archive.toc if e.desc == "BLOBS" and e.had_dumper and e.data_state != OFFSET_NO_DATA}


def has_large_objects(archive: Archive) -> bool:
    """Whether the TOC promises large-object data (a BLOBS entry with data)."""
    return bool(blobs_entries(archive))


def toc_large_objects(archive: Archive) -> list[int]:
    """The OIDs the TOC names: a BLOB entry each (pg_dump ≤ 16), or one OID a line in BLOB METADATA (17+)."""
    oids: list[int] = []
    for entry in archive.toc:
        if entry.desc == "BLOB" and entry.tag.isdigit():
            oids.append(int(entry.tag))
        elif entry.desc == "BLOB METADATA":
            oids += [int(oid) for oid in entry.defn.split() if oid.isdigit()]
    return oids


def stored_objects(source: OpenedSource) -> Iterator[tuple[int, Iterator[bytes]]]:
    """Each large object as (OID, its data decompressed, in pieces), in stream order; read each before the next.

    An archive that ends before a BLOBS block its TOC promises raises IntegrityError after the objects before
    the cut were handed out.
    """
    archive = source.archive
    compression = archive.header.compression
    missing = blobs_entries(archive)
    for dump_id, block_type, pieces in walk(source.data, archive):
        if block_type != BLOCK_BLOBS:
            continue
        missing.discard(dump_id)
        for obj in large_objects(pieces):
            what = f"large object {obj.oid} (at byte {obj.at:,} of the archive)"
            yield obj.oid, block_text(obj.pieces, compression, what)
    if missing:
        raise IntegrityError(f"The archive is truncated: it ends without {counted(len(missing), 'block')} of large "
                             "objects its TOC lists.",
                             hint="The file was cut short (an interrupted copy, or a full disk while dumping); the "
                                  "large objects before the cut are whole.")


def write_large_objects(source: OpenedSource, out_dir: Path, claims: RuntimeDir, reporter: Reporter,
                        on_file: Callable[[ExportedObject], None]) -> None:
    """Write every large object to out_dir/<oid> (0600, whole or not at all), telling `on_file` of each.

    `out_dir` is made (0700) if absent, and removed again if nothing was written. An existing file is
    never replaced: the names the TOC lists are checked before anything is written.
    """
    if not has_large_objects(source.archive):
        raise NotFoundError("The archive holds no large objects; nothing was written.",
                            hint="The database had none, or it was dumped without them (a schema-only dump, "
                                 "or one limited to some tables or schemas).")
    created = _folder(out_dir)
    written = 0
    try:
        taken = [str(oid) for oid in toc_large_objects(source.archive) if os.path.lexists(out_dir / str(oid))]
        if taken:
            raise UsageError(f"{out_dir} already holds {counted(len(taken), 'file')} named like the archive's large "
                             f"objects ({', '.join(taken[:5])}{', …' if len(taken) > 5 else ''}); nothing was written.",
                             hint="Choose an empty or new folder.")
        seen: set[int] = set()
        for oid, data in stored_objects(source):
            if oid in seen:
                raise IntegrityError(f"The archive holds large object {oid} twice: it is damaged or forged.")
            seen.add(oid)
            on_file(_write_one(oid, data, out_dir / str(oid), claims))
            written += 1
            reporter.check()
    except BaseException:
        if created and not written:
            _remove_empty(out_dir)
        raise


def _write_one(oid: int, data: Iterator[bytes], path: Path, claims: RuntimeDir) -> ExportedObject:
    if os.path.lexists(path):  # a name the TOC did not list, or a link that points nowhere
        raise UsageError(f"{path} already exists; it was not replaced, and the export stopped there.",
                         hint="Choose an empty or new folder.")
    sha = hashlib.sha256()
    size = 0
    try:
        with atomic_output(path, False, claims=claims) as sink:
            for piece in data:
                sha.update(piece)
                size += len(piece)
                sink.write(piece)
    except OSError as exc:
        raise from_os_error("writing", str(path), exc) from exc
    return ExportedObject(oid, path, size, sha.hexdigest())


def _folder(out_dir: Path) -> bool:
    """Make `out_dir` (0700) if absent; whether it was made. Refuse a path that is not a folder."""
    try:
        out_dir.mkdir(mode=0o700)
    except FileExistsError:
        if out_dir.is_symlink():
            raise UsageError(f"{out_dir} is a symbolic link; the console does not write through links.",
                             hint="Name the folder itself, or a new folder; nothing was written.") from None
        if not out_dir.is_dir():
            raise UsageError(f"{out_dir} exists and is not a folder; large objects go into a folder, one file each.",
                             hint="Name a new or existing folder.") from None
        return False
    except FileNotFoundError:
        raise UsageError(f"The folder {out_dir.parent} does not exist.",
                         hint="Create it first, or name a folder inside an existing one.") from None
    except OSError as exc:
        raise from_os_error("creating", str(out_dir), exc) from exc
    return True


def _remove_empty(out_dir: Path) -> None:
    with contextlib.suppress(OSError):  # something else put a file there: it stays
        out_dir.rmdir()

"""Writes the recovery-set manifest vector (docs/FORMAT.md 19.7): set_manifest.enc and set_manifest.json.

Deterministic (fixed salt, 1000 iterations, 1 KiB chunks: never do this in a real writer);
`--check` compares with the committed files instead of writing them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

from recovery_console.engine.sets.manifest import ManifestMember, SetManifest, manifest_metadata, seal_manifest

HERE = Path(__file__).resolve().parent
SECRET = "correct horse battery staple"
SALT = bytes(range(0x20, 0x30))
ITERATIONS = 1000
CHUNK_EXPONENT = 10

MANIFEST = SetManifest(
    set_id="5e7a0c1d-2b3f-4a5e-9d8c-7b6a59483726", created_at="2026-12-07T08:00:00Z",
    finished_at="2026-12-07T08:00:04.250Z", app_version="0.1.0", mode="manual", profile="records",
    description="test vector", created_by="make_set_vector",
    members=(
        ManifestMember(index=1, kind="database", name="config", key="01-database.enc",
                       backup_id="1a2b3c4d-0000-4000-8000-000000000001", size=2048, sha256="11" * 32,
                       archive_length=1500, archive_sha256="aa" * 32, started_at="2026-12-07T08:00:00.100Z",
                       finished_at="2026-12-07T08:00:02.000Z", database="config", server_version="15.10"),
        ManifestMember(index=2, kind="database", name="results", key="02-database.enc",
                       backup_id="1a2b3c4d-0000-4000-8000-000000000002", size=4096, sha256="22" * 32,
                       archive_length=3500, archive_sha256="bb" * 32, started_at="2026-12-07T08:00:00.105Z",
                       finished_at="2026-12-07T08:00:03.000Z", database="results", server_version="17.2"),
        ManifestMember(index=3, kind="folder", name="vault", key="03-folder.enc",
                       backup_id="1a2b3c4d-0000-4000-8000-000000000003", size=10240, sha256="33" * 32,
                       archive_length=10240, archive_sha256="cc" * 32, started_at="2026-12-07T08:00:03.010Z",
                       finished_at="2026-12-07T08:00:04.200Z", folder="/srv/app/vault"),
    ),
)


def build() -> tuple[bytes, str]:
    sealed = seal_manifest(MANIFEST, SECRET, iterations=ITERATIONS, chunk_exponent=CHUNK_EXPONENT, salt=SALT)
    plaintext = MANIFEST.to_json()
    index = {
        "file": "set_manifest.enc", "file_size": len(sealed.data), "file_sha256": sealed.sha256,
        "secret": SECRET, "salt": SALT.hex(), "iterations": ITERATIONS, "chunk_exponent": CHUNK_EXPONENT,
        "compression": "none",
        "metadata": json.loads(replace(manifest_metadata(MANIFEST), chunk_size=1 << CHUNK_EXPONENT).to_json()),
        "manifest": json.loads(plaintext), "plaintext_length": len(plaintext),
        "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(), "expected": "ok",
        "description": "a recovery set's manifest: two databases and a folder",
    }
    return sealed.data, json.dumps(index, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    data, index = build()
    if "--check" in sys.argv:
        same = (HERE / "set_manifest.enc").read_bytes() == data and \
            (HERE / "set_manifest.json").read_text("utf-8") == index
        print("set vector matches" if same else "set vector DIFFERS")
        return 0 if same else 1
    (HERE / "set_manifest.enc").write_bytes(data)
    (HERE / "set_manifest.json").write_text(index, "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

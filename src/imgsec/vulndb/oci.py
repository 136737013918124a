"""The vulnerability database as an OCI artifact, for air-gapped clusters (``imgsec db push|pull``).

The artifact follows the OCI image-spec 1.1 guidance for artifacts: an image manifest with
``artifactType`` :data:`ARTIFACT_TYPE`, the empty config ``{}``
(``application/vnd.oci.empty.v1+json``) and one layer, the SQLite file compressed with zstd
(:data:`LAYER_MEDIA_TYPE`).  Manifest annotations carry the database's ``built_at``
(``org.opencontainers.image.created``), its schema version and its record counts, so a puller
can refuse a schema it does not read before downloading anything.

Pulling is all-or-nothing: the layer is verified against its digest (by the registry client),
decompressed with a size cap into a temp file beside the live database, checked to open as a
database of the schema this imgsec reads, and only then moved over the live file (the same
locked ``os.replace`` path ``imgsec db update`` uses).  Any failure leaves the old database.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import zstandard

from imgsec.errors import DigestMismatchError, ExternalError, InputError
from imgsec.image.model import OCI_MANIFEST, Descriptor, sha256_digest
from imgsec.reference import Reference, validate_digest
from imgsec.registry.client import RegistryClient, blob_digest_of_stream
from imgsec.vulndb.store import SCHEMA_VERSION, VulnDB
from imgsec.vulndb.update import _replacing

log = logging.getLogger("imgsec.vulndb")

ARTIFACT_TYPE = "application/vnd.imgsec.db.v1"
LAYER_MEDIA_TYPE = "application/vnd.imgsec.db.layer.v1.sqlite+zstd"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_SCHEMA = "dev.imgsec.db.schema-version"
ANNOTATION_COUNTS = "dev.imgsec.db.counts"
ANNOTATION_SOURCES = "dev.imgsec.db.sources"
LAYER_TITLE = "imgsec.db"
#: Largest decompressed database ``db pull`` writes (the full mirror builds well under 1 GiB).
MAX_DB_SIZE = 8 * 1024 * 1024 * 1024
_ZSTD_LEVEL = 9
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PushResult:
    reference: str
    digest: str
    layer: Descriptor
    built_at: str | None
    counts: dict[str, int]


@dataclass(frozen=True)
class PullResult:
    reference: str
    digest: str
    path: Path
    built_at: str | None
    size: int


def _descriptor_json(desc: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": desc.media_type, "digest": desc.digest, "size": desc.size}
    if desc.annotations:
        out["annotations"] = dict(desc.annotations)
    return out


def build_manifest(layer: Descriptor, annotations: dict[str, str]) -> bytes:
    """The artifact manifest (canonical JSON: sorted keys, no whitespace)."""
    config = Descriptor(EMPTY_MEDIA_TYPE, sha256_digest(EMPTY_JSON), len(EMPTY_JSON))
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {**_descriptor_json(config), "data": "e30="},
        "layers": [_descriptor_json(layer)],
        "annotations": annotations,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def push_database(client: RegistryClient, ref: Reference, db: Path) -> PushResult:
    """Compress the database at ``db`` and push it as an artifact to ``ref`` (a tag or digest)."""
    try:
        source = db.open("rb")
    except FileNotFoundError:
        raise InputError(
            f"vulnerability database {db} does not exist; run 'imgsec db update' first"
        ) from None
    except OSError as exc:
        raise InputError(f"cannot read the vulnerability database {db} ({exc})") from exc
    with source, tempfile.TemporaryFile(prefix="imgsec-db-push-") as packed:
        with VulnDB(db) as vdb:
            st = vdb.status()
        # Updates replace the file, never change it: the handle opened above is one whole database,
        # but make sure it is the one whose status was just read.
        if os.fstat(source.fileno()).st_ino != os.stat(db).st_ino:
            raise ExternalError(f"{db} was replaced by an update while pushing; run 'imgsec db push' again")
        compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True)
        compressor.copy_stream(source, packed, read_size=_CHUNK, write_size=_CHUNK)
        packed.seek(0)
        digest, size = blob_digest_of_stream(packed)
        layer = Descriptor(
            LAYER_MEDIA_TYPE,
            digest,
            size,
            annotations=(("org.opencontainers.image.title", LAYER_TITLE),),
        )
        annotations = {
            ANNOTATION_SCHEMA: str(st.schema_version),
            ANNOTATION_COUNTS: json.dumps(st.counts, sort_keys=True, separators=(",", ":")),
            ANNOTATION_SOURCES: json.dumps(
                {s.source: s.records for s in st.sources}, sort_keys=True, separators=(",", ":")
            ),
        }
        if st.built_at:
            annotations[ANNOTATION_CREATED] = st.built_at
        packed.seek(0)
        client.push_blob(ref, EMPTY_JSON, sha256_digest(EMPTY_JSON))
        client.push_blob(ref, packed, digest, size)
    manifest = build_manifest(layer, annotations)
    pushed = client.push_manifest(ref, manifest, OCI_MANIFEST)
    return PushResult(str(ref), pushed, layer, st.built_at, st.counts)


def _not_db(ref: Reference, why: str) -> InputError:
    return InputError(
        f"{ref} is not an imgsec vulnerability database artifact ({why}); "
        "point 'imgsec db pull' at a reference written by 'imgsec db push'"
    )


def parse_artifact(ref: Reference, data: bytes, media_type: str) -> tuple[Descriptor, dict[str, str]]:
    """The database layer and annotations of a fetched manifest, or InputError if it is not ours."""
    if media_type != OCI_MANIFEST:
        raise _not_db(ref, f"its manifest type is {media_type}")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise _not_db(ref, f"manifest is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise _not_db(ref, "manifest is not a JSON object")
    artifact_type = doc.get("artifactType")
    if artifact_type != ARTIFACT_TYPE:
        raise _not_db(ref, f"artifactType is {artifact_type!r}, not {ARTIFACT_TYPE}")
    raw_ann = doc.get("annotations", {})
    if not isinstance(raw_ann, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw_ann.items()
    ):
        raise _not_db(ref, "annotations are not a string map")
    annotations: dict[str, str] = raw_ann
    layers = doc.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
        raise _not_db(ref, "it must have exactly one layer")
    layer = layers[0]
    if layer.get("mediaType") != LAYER_MEDIA_TYPE:
        raise _not_db(ref, f"layer media type is {layer.get('mediaType')!r}, not {LAYER_MEDIA_TYPE}")
    digest, size = layer.get("digest"), layer.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _not_db(ref, "layer descriptor lacks a valid digest or size")
    validate_digest(digest)
    schema = annotations.get(ANNOTATION_SCHEMA)
    if schema != str(SCHEMA_VERSION):
        raise InputError(
            f"{ref} holds a database of schema {schema or 'unknown'}, this imgsec reads schema "
            f"{SCHEMA_VERSION}; pull an artifact pushed by a matching imgsec version, or upgrade imgsec"
        )
    return Descriptor(LAYER_MEDIA_TYPE, digest, size), annotations


def _check_database(path: Path, where: str) -> None:
    """Refuse a downloaded file that is not a sound database of our schema (before it goes live)."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            kinds = conn.execute("SELECT DISTINCT type FROM sqlite_master").fetchall()
            odd = sorted(k[0] for k in kinds if k[0] not in ("table", "index"))
            if odd:
                raise InputError(f"{where}: the database holds {', '.join(odd)} objects; refusing it")
            check = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{where}: the layer is not an SQLite database ({exc})") from exc
    if check is None or check[0] != "ok":
        raise InputError(f"{where}: the database is corrupt ({check[0] if check else 'no result'})")
    try:
        with VulnDB(path) as vdb:
            vdb.status()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{where}: the database lacks the tables imgsec reads ({exc})") from exc
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc


def _decompress(reader: BinaryIO, out: BinaryIO, max_size: int, where: str) -> int:
    written = 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(
            reader, read_size=_CHUNK, read_across_frames=True, closefd=False
        ) as zs:
            while chunk := zs.read(_CHUNK):
                written += len(chunk)
                if written > max_size:
                    raise InputError(
                        f"{where}: decompresses to more than {max_size} bytes; refusing it "
                        "(a zstd bomb, or raise the limit with --max-size)"
                    )
                out.write(chunk)
    except zstandard.ZstdError as exc:
        # Tampered bytes usually break the zstd frame before EOF: report the digest mismatch then.
        while reader.read(_CHUNK):
            pass
        raise InputError(f"{where}: the layer is not valid zstd data ({exc})") from exc
    # The decompressor may stop at the end of the last frame: read the rest so the digest is checked.
    while reader.read(_CHUNK):
        pass
    return written


def pull_database(
    client: RegistryClient, ref: Reference, dest: Path, *, max_size: int = MAX_DB_SIZE
) -> PullResult:
    """Download the database artifact ``ref`` and atomically replace ``dest`` with it."""
    fetched = client.get_manifest(ref, accept=OCI_MANIFEST)
    layer, annotations = parse_artifact(ref, fetched.data, fetched.media_type)
    where = f"database layer {layer.digest} of {ref}"
    if layer.size > max_size:
        raise InputError(f"{where}: {layer.size} bytes compressed, over the {max_size}-byte limit")
    with _replacing(dest) as tmp:
        with tmp.open("wb") as out, client.get_blob(ref, layer) as reader:
            try:
                size = _decompress(reader, out, max_size, where)  # type: ignore[arg-type]
            except DigestMismatchError as exc:
                raise DigestMismatchError(f"{exc}; the database was not replaced") from exc
            out.flush()
            os.fsync(out.fileno())
        _check_database(tmp, where)
    log.info("pulled %s (%s) into %s", ref, fetched.digest, dest)
    return PullResult(str(ref), fetched.digest, dest, annotations.get(ANNOTATION_CREATED), size)


__all__ = [
    "ARTIFACT_TYPE",
    "LAYER_MEDIA_TYPE",
    "MAX_DB_SIZE",
    "PullResult",
    "PushResult",
    "build_manifest",
    "parse_artifact",
    "pull_database",
    "push_database",
]

"""Signatures inside an OCI image layout directory (``oci:DIR``), fully offline.

Signature and attestation manifests are stored like any other image in the layout: blobs under
``blobs/sha256/``, an ``index.json`` entry whose ``org.opencontainers.image.ref.name`` annotation is the
cosign tag (``sha256-<hex>.sig``).  ``skopeo copy`` moves such a tag to and from a registry, so
signatures travel with the image and verify with no network at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imgsec.errors import InputError, NotFoundError
from imgsec.image.model import INDEX_TYPES, MANIFEST_TYPES, MAX_DOCUMENT_SIZE, sha256_digest, verify_digest
from imgsec.reference import validate_digest
from imgsec.signing.payload import parse_json
from imgsec.signing.store import Target

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_HEX_RE = re.compile(r"^[a-f0-9]{64}$")


def parse_oci_argument(text: str) -> tuple[Path, str | None]:
    """``oci:DIR[:TAG|@sha256:HEX]`` -> (DIR, TAG or digest or None); an existing DIR wins over splitting."""
    rest = text.removeprefix("oci:")
    if not rest:
        raise InputError("oci: needs a directory, e.g. oci:./layout:latest")
    if Path(rest).is_dir():
        return Path(rest), None
    if "@" in rest:
        path, _, digest = rest.rpartition("@")
        return Path(path), validate_digest(digest)
    path, sep, tag = rest.rpartition(":")
    if sep and path and _TAG_RE.match(tag) and "/" not in tag:
        return Path(path), tag
    return Path(rest), None


class OCILayoutStore:
    """Read and write signature objects in an OCI image layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        layout = root / "oci-layout"
        try:
            marker = json.loads(layout.read_bytes()[:4096])
        except FileNotFoundError:
            raise NotFoundError(f"{root} is not an OCI image layout (no oci-layout file)") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"{root}: unreadable oci-layout file ({exc})") from exc
        if not isinstance(marker, dict) or not isinstance(marker.get("imageLayoutVersion"), str):
            raise InputError(f"{root}: oci-layout lacks imageLayoutVersion")

    # -------------------------------------------------------------------------------- index

    def _read_index(self) -> dict[str, Any]:
        path = self.root / "index.json"
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_DOCUMENT_SIZE + 1)
        except OSError as exc:
            raise InputError(f"{self.root}: cannot read index.json ({exc.strerror or exc})") from exc
        if len(data) > MAX_DOCUMENT_SIZE:
            raise InputError(f"{self.root}: index.json is larger than {MAX_DOCUMENT_SIZE} bytes")
        doc = parse_json(data, f"{self.root}/index.json")
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
            raise InputError(f"{self.root}/index.json: not an OCI image index")
        doc.setdefault("manifests", [])
        for i, entry in enumerate(doc["manifests"]):
            if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
                raise InputError(f"{self.root}/index.json: manifests[{i}] is not a descriptor")
            ann = entry.get("annotations")
            if ann is not None and not isinstance(ann, dict):
                raise InputError(f"{self.root}/index.json: manifests[{i}] annotations must be an object")
        return doc

    @staticmethod
    def _ref_name(entry: dict[str, Any]) -> str | None:
        name = (entry.get("annotations") or {}).get(REF_NAME_ANNOTATION)
        return name if isinstance(name, str) else None

    def _find(self, ref: str) -> dict[str, Any] | None:
        entries = self._read_index()["manifests"]
        if ref.startswith("sha256:"):
            hits = [e for e in entries if e["digest"] == ref]
        else:
            hits = [e for e in entries if self._ref_name(e) == ref]
        return hits[-1] if hits else None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / ".imgsec-index.lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _write_atomic(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ----------------------------------------------------------------------------- targets

    def resolve(self, ref: str | None, display: str) -> Target:
        """The image ``ref`` (tag, digest, or the only image when None) names in this layout."""
        if ref is None:
            entries = [
                e
                for e in self._read_index()["manifests"]
                if not (self._ref_name(e) or "").endswith((".sig", ".att", ".sbom"))
                and "artifactType" not in e
            ]
            if len(entries) != 1:
                raise InputError(
                    f"{display}: the layout holds {len(entries)} images; name one as oci:DIR:TAG or oci:DIR@DIGEST"
                )
            entry: dict[str, Any] | None = entries[0]
        else:
            entry = self._find(ref)
        if entry is None:
            raise NotFoundError(f"{display}: no image {ref!r} in the layout index")
        digest = validate_digest(entry["digest"])
        media_type = entry.get("mediaType")
        if media_type not in MANIFEST_TYPES | INDEX_TYPES:
            raise InputError(
                f"{display}: {digest} has media type {media_type!r}, not an image manifest or index"
            )
        size = entry.get("size")
        return Target(
            digest=digest,
            display=display,
            identity=None,
            by_tag=ref is None or not ref.startswith("sha256:"),
            media_type=str(media_type),
            size=size if isinstance(size, int) else 0,
        )

    # ------------------------------------------------------------------------------ store

    def describe(self, tag: str) -> str:
        return f"oci:{self.root}:{tag}"

    def _blob_path(self, digest: str) -> Path:
        algo, _, hex_ = validate_digest(digest).partition(":")
        if algo != "sha256" or not _HEX_RE.match(hex_):
            raise InputError(f"unsupported digest {digest!r} in an OCI layout (sha256 only)")
        return self.root / "blobs" / "sha256" / hex_

    def get_blob(self, digest: str, size: int, max_size: int) -> bytes:
        path = self._blob_path(digest)
        try:
            with path.open("rb") as fh:
                data = fh.read(max_size + 1)
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is missing from {self.root}") from None
        except OSError as exc:
            raise InputError(f"cannot read blob {digest} in {self.root}: {exc.strerror or exc}") from exc
        if len(data) > max_size:
            raise InputError(f"blob {digest} in {self.root} is larger than {max_size} bytes")
        if size >= 0 and len(data) != size:
            raise InputError(
                f"blob {digest} in {self.root}: {len(data)} bytes, but its descriptor declares {size}"
            )
        verify_digest(data, digest, f"blob {digest} in {self.root}")
        return data

    def get_manifest(self, tag: str) -> bytes | None:
        entry = self._find(tag)
        if entry is None:
            return None
        size = entry.get("size")
        return self.get_blob(entry["digest"], size if isinstance(size, int) else -1, MAX_DOCUMENT_SIZE)

    def put_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        path = self._blob_path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomic(path, data)
        return digest

    def put_manifest(self, data: bytes, media_type: str, tag: str) -> str:
        digest = self.put_blob(data)
        with self._locked():
            index = self._read_index()
            kept = [e for e in index["manifests"] if self._ref_name(e) != tag]
            kept.append(
                {
                    "mediaType": media_type,
                    "digest": digest,
                    "size": len(data),
                    "annotations": {REF_NAME_ANNOTATION: tag},
                }
            )
            index["manifests"] = kept
            index.setdefault("schemaVersion", 2)
            self._write_atomic(self.root / "index.json", json.dumps(index, separators=(",", ":")).encode())
        return digest

    def referrers(self, digest: str, artifact_type: str) -> list[tuple[str, bytes]] | None:
        # Image spec 1.1: referrers in a layout are index entries carrying their artifactType; the
        # subject is checked from the manifest itself, never trusted from the index.
        out: list[tuple[str, bytes]] = []
        for entry in self._read_index()["manifests"]:
            if entry.get("artifactType") != artifact_type:
                continue
            size = entry.get("size")
            data = self.get_blob(entry["digest"], size if isinstance(size, int) else -1, MAX_DOCUMENT_SIZE)
            doc = parse_json(data, f"oci:{self.root}@{entry['digest']}")
            subject = doc.get("subject") if isinstance(doc, dict) else None
            if isinstance(subject, dict) and subject.get("digest") == digest:
                out.append((f"oci:{self.root}@{entry['digest']}", data))
        return out

    def put_referrer(self, data: bytes, media_type: str, artifact_type: str) -> str:
        digest = self.put_blob(data)
        with self._locked():
            index = self._read_index()
            if not any(e["digest"] == digest for e in index["manifests"]):
                index["manifests"].append(
                    {
                        "mediaType": media_type,
                        "digest": digest,
                        "size": len(data),
                        "artifactType": artifact_type,
                    }
                )
                index.setdefault("schemaVersion", 2)
                self._write_atomic(
                    self.root / "index.json", json.dumps(index, separators=(",", ":")).encode()
                )
        return digest

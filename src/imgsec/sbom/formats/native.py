"""imgsec's own SBOM JSON: the lossless, stable serialisation of :class:`imgsec.sbom.model.SBOM`.

Documented in ``docs/sbom-json.md``; JSON Schema in ``imgsec/data/sbom.schema.json``.  Output is
deterministic: packages in one total order, keys in one fixed order, every key always present
(``null`` when unknown), so the same image gives byte-identical documents apart from ``created``,
which ``SOURCE_DATE_EPOCH`` (or the ``created`` argument) pins.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from typing import Any

from imgsec.errors import InputError
from imgsec.sbom.formats._common import (
    TOOL_NAME,
    TOOL_VERSION,
    Fields,
    canonical,
    created_timestamp,
    format_timestamp,
    load_json,
)
from imgsec.sbom.model import SBOM, Distro, ImageSummary, LayerSummary, Location, Package, PackageType

FORMAT_NAME = "imgsec-sbom"
SCHEMA_VERSION = "1.0"
_SUPPORTED_MAJOR = "1"
_WHAT = "imgsec SBOM"


def to_json(sbom: SBOM, *, created: datetime | None = None) -> str:
    """Serialise ``sbom`` as imgsec SBOM JSON (UTF-8 text, two-space indent, trailing newline)."""
    sbom = canonical(sbom)
    doc: dict[str, Any] = {
        "format": FORMAT_NAME,
        "schemaVersion": SCHEMA_VERSION,
        "generator": {"name": TOOL_NAME, "version": TOOL_VERSION},
        "created": format_timestamp(created_timestamp(created)),
        "image": _image_to_json(sbom.image),
        "distro": _distro_to_json(sbom.distro) if sbom.distro is not None else None,
        "packages": [_package_to_json(p) for p in sbom.packages],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def document_uuid(sbom: SBOM, created: datetime | None, kind: str) -> uuid.UUID:
    """A document id: random, unless the timestamp is pinned (argument or ``SOURCE_DATE_EPOCH``).

    Pinned, it is derived from the content, so a reproducible build gives byte-identical documents.
    """
    if created is None and not os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        return uuid.uuid4()
    return uuid.uuid5(uuid.NAMESPACE_URL, f"imgsec:{kind}:" + to_json(sbom, created=created))


def _pairs(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs]


def _image_to_json(image: ImageSummary) -> dict[str, Any]:
    return {
        "name": image.name,
        "manifestDigest": image.manifest_digest,
        "configDigest": image.config_digest,
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "user": image.user,
        "repoDigests": list(image.repo_digests),
        "labels": _pairs(image.labels),
        "layers": [
            {
                "index": layer.index,
                "digest": layer.digest,
                "diffID": layer.diff_id,
                "mediaType": layer.media_type,
                "size": layer.size,
                "createdBy": layer.created_by,
            }
            for layer in image.layers
        ],
    }


def _distro_to_json(distro: Distro) -> dict[str, Any]:
    return {
        "id": distro.id,
        "versionID": distro.version_id,
        "versionCodename": distro.version_codename,
        "prettyName": distro.pretty_name,
        "idLike": list(distro.id_like),
    }


def _package_to_json(pkg: Package) -> dict[str, Any]:
    return {
        "name": pkg.name,
        "version": pkg.version,
        "type": str(pkg.type),
        "purl": pkg.purl,
        "sourceName": pkg.source_name,
        "sourceVersion": pkg.source_version,
        "arch": pkg.arch,
        "licenses": list(pkg.licenses),
        "layer": pkg.layer,
        "locations": [{"path": loc.path, "layer": loc.layer} for loc in pkg.locations],
        "metadata": _pairs(pkg.metadata),
    }


def is_native(doc: Any) -> bool:
    """Whether a parsed JSON document claims to be an imgsec SBOM."""
    return isinstance(doc, dict) and doc.get("format") == FORMAT_NAME


def from_json(text: str | bytes) -> SBOM:
    """Parse imgsec SBOM JSON; any malformed or hostile input raises :class:`InputError`."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return from_document(load_json(data, _WHAT))


def from_document(doc: Any) -> SBOM:
    """Build an :class:`SBOM` from an already parsed imgsec SBOM JSON document."""
    root = Fields(doc, "$", _WHAT)
    if root.opt_string("format") != FORMAT_NAME:
        raise InputError(f"{_WHAT}: $.format must be {FORMAT_NAME!r}; this is not an imgsec SBOM")
    version = root.string("schemaVersion")
    if version.split(".", 1)[0] != _SUPPORTED_MAJOR:
        raise InputError(
            f"{_WHAT}: schemaVersion {version[:20]!r} is not supported (this imgsec reads {_SUPPORTED_MAJOR}.x); "
            "regenerate the SBOM with this imgsec or upgrade imgsec"
        )
    distro = root.opt_obj("distro")
    return SBOM(
        image=_image_from_json(root.obj("image")),
        distro=_distro_from_json(distro) if distro is not None else None,
        packages=tuple(_package_from_json(p) for p in root.objs("packages")),
    )


def _pairs_from_json(f: Fields, key: str) -> tuple[tuple[str, str], ...]:
    return tuple((item.string("name"), item.string("value")) for item in f.objs(key))


def _image_from_json(f: Fields) -> ImageSummary:
    layers = []
    for lf in f.objs("layers"):
        size = lf.integer("size")
        index = lf.integer("index")
        if size < 0 or index < 0:
            raise InputError(f"{_WHAT}: {lf.where}: index and size must not be negative")
        layers.append(
            LayerSummary(
                index=index,
                digest=lf.string("digest"),
                diff_id=lf.opt_string("diffID"),
                media_type=lf.string("mediaType"),
                size=size,
                created_by=lf.opt_string("createdBy"),
            )
        )
    return ImageSummary(
        name=f.string("name"),
        manifest_digest=f.opt_string("manifestDigest"),
        config_digest=f.opt_string("configDigest"),
        os=f.opt_string("os"),
        architecture=f.opt_string("architecture"),
        variant=f.opt_string("variant"),
        layers=tuple(layers),
        repo_digests=f.strings("repoDigests"),
        user=f.opt_string("user"),
        labels=_pairs_from_json(f, "labels"),
    )


def _distro_from_json(f: Fields) -> Distro:
    return Distro(
        id=f.string("id"),
        version_id=f.opt_string("versionID"),
        version_codename=f.opt_string("versionCodename"),
        pretty_name=f.opt_string("prettyName"),
        id_like=f.strings("idLike"),
    )


def _package_from_json(f: Fields) -> Package:
    type_name = f.string("type")
    try:
        ptype = PackageType(type_name)
    except ValueError:
        known = ", ".join(t.value for t in PackageType)
        raise InputError(
            f"{_WHAT}: {f.where}.type {type_name[:40]!r} is not a known package type ({known})"
        ) from None
    return Package(
        name=f.string("name"),
        version=f.string("version"),
        type=ptype,
        purl=f.string("purl"),
        source_name=f.opt_string("sourceName"),
        source_version=f.opt_string("sourceVersion"),
        licenses=f.strings("licenses"),
        locations=tuple(
            Location(path=lf.string("path"), layer=lf.opt_string("layer")) for lf in f.objs("locations")
        ),
        layer=f.opt_string("layer"),
        arch=f.opt_string("arch"),
        metadata=_pairs_from_json(f, "metadata"),
    )

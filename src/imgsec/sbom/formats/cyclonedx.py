"""CycloneDX 1.6 JSON, written with ``cyclonedx-python-lib``.

Layout (see ``docs/sbom-json.md``, "CycloneDX"): ``metadata.component`` is the image (type
``container``, version = manifest digest, purl ``pkg:oci/...``); one ``library`` component per
package; the distro is an ``operating-system`` component.  imgsec facts without a CycloneDX field
are properties in the ``imgsec:`` namespace:

- ``imgsec:package:type`` — the imgsec package type (``deb``, ``python``, ...)
- ``imgsec:layer`` — diff_id of the layer that introduced the package
- ``imgsec:location:N:path`` / ``imgsec:location:N:layer`` — where the package was found
- ``imgsec:source:name`` / ``imgsec:source:version`` — the distro source package
- ``imgsec:arch``, ``imgsec:metadata:<key>`` — architecture and cataloger metadata
- ``imgsec:distro:versionCodename`` / ``imgsec:distro:idLike`` on the OS component
- ``imgsec:image:*`` on the image component: ``configDigest``, ``os``, ``architecture``, ``variant``,
  ``user``, ``repoDigest:N``, ``layer:N:{digest,diffID,mediaType,size,createdBy}``, ``label:<key>``
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from imgsec.sbom.formats._common import (
    TOOL_NAME,
    TOOL_VERSION,
    canonical,
    created_timestamp,
    image_purl,
    parse_purl,
    unique_ids,
)
from imgsec.sbom.model import SBOM, Distro, ImageSummary, Package

if TYPE_CHECKING:
    from cyclonedx.model import Property
    from cyclonedx.model.component import Component
    from cyclonedx.model.license import License

log = logging.getLogger(__name__)

PROPERTY_PREFIX = "imgsec:"
_TOP_LEVEL_ORDER = (
    "$schema",
    "bomFormat",
    "specVersion",
    "serialNumber",
    "version",
    "metadata",
    "components",
    "dependencies",
)


def to_cyclonedx(
    sbom: SBOM, *, created: datetime | None = None, serial_number: uuid.UUID | None = None
) -> str:
    """Serialise ``sbom`` as CycloneDX 1.6 JSON.

    ``serial_number`` defaults to a random UUID; with ``created`` or ``SOURCE_DATE_EPOCH`` set it is
    derived from the content instead, so reproducible builds give reproducible BOMs.
    """
    # Imported here: the library takes a noticeable time to import and most commands never need it.
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6

    from imgsec.sbom.formats import native

    sbom = canonical(sbom)
    timestamp = created_timestamp(created)
    if serial_number is None:
        serial_number = native.document_uuid(sbom, created, "cyclonedx")

    tool = Component(
        type=ComponentType.APPLICATION, name=TOOL_NAME, version=TOOL_VERSION, bom_ref=f"tool:{TOOL_NAME}"
    )
    root = _image_component(sbom.image)
    bom = Bom(
        serial_number=serial_number,
        metadata=BomMetaData(tools=ToolRepository(components=[tool]), component=root, timestamp=timestamp),
    )
    children: list[Component] = []
    if sbom.distro is not None:
        children.append(_distro_component(sbom.distro))
    for pkg, pid in zip(sbom.packages, unique_ids(sbom.packages), strict=True):
        children.append(_package_component(pkg, pid))
    bom.components = children  # one bulk insert into the library's sorted set
    bom.dependencies = [
        Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in children]),
        *(Dependency(ref=c.bom_ref) for c in children),
    ]
    # The output step calls Bom.validate() (deprecated upstream), which re-registers every component
    # with a linear search: quadratic, ~20 s for 3000 packages.  The graph above is complete by
    # construction (every ref is a component of this BOM; tests validate against the 1.6 schema).
    setattr(bom, "validate", lambda: True)  # noqa: B010
    # The library writes keys alphabetically; put the identifying ones first, as CycloneDX's examples do.
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    ordered = {k: doc[k] for k in _TOP_LEVEL_ORDER if k in doc}
    ordered.update((k, v) for k, v in doc.items() if k not in ordered)
    return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def _props(pairs: list[tuple[str, str]]) -> list[Property]:
    from cyclonedx.model import Property

    return [Property(name=PROPERTY_PREFIX + k, value=v) for k, v in pairs]


def _image_component(image: ImageSummary) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    pairs: list[tuple[str, str]] = []
    for key, value in (
        ("image:configDigest", image.config_digest),
        ("image:os", image.os),
        ("image:architecture", image.architecture),
        ("image:variant", image.variant),
        ("image:user", image.user),
    ):
        if value:
            pairs.append((key, value))
    for n, digest in enumerate(image.repo_digests):
        pairs.append((f"image:repoDigest:{n}", digest))
    for layer in image.layers:
        pairs.append((f"image:layer:{layer.index}:digest", layer.digest))
        if layer.diff_id:
            pairs.append((f"image:layer:{layer.index}:diffID", layer.diff_id))
        pairs.append((f"image:layer:{layer.index}:mediaType", layer.media_type))
        pairs.append((f"image:layer:{layer.index}:size", str(layer.size)))
        if layer.created_by:
            pairs.append((f"image:layer:{layer.index}:createdBy", layer.created_by))
    pairs.extend((f"image:label:{key}", value) for key, value in image.labels)
    purl_text = image_purl(image)
    purl = parse_purl(purl_text) if purl_text else None
    return Component(
        type=ComponentType.CONTAINER,
        name=image.name,
        version=image.manifest_digest,
        purl=purl,
        bom_ref=purl_text or f"image:{image.manifest_digest or image.name}",
        properties=_props(pairs),
    )


def _distro_component(distro: Distro) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    pairs: list[tuple[str, str]] = []
    if distro.version_codename:
        pairs.append(("distro:versionCodename", distro.version_codename))
    if distro.id_like:
        pairs.append(("distro:idLike", " ".join(distro.id_like)))
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=distro.id,
        version=distro.version_id,
        description=distro.pretty_name,
        bom_ref=f"os:{distro.id}@{distro.version_id or 'unknown'}",
        properties=_props(pairs),
    )


def _licenses(values: tuple[str, ...]) -> list[License]:
    """SPDX ids where the value is one (case fixed up), the free text as a license name otherwise.

    Expressions are written as names too: CycloneDX forbids mixing an expression with other licenses.
    """
    from cyclonedx.model.license import DisjunctiveLicense
    from cyclonedx.spdx import fixup_id

    out: list[License] = []
    for value in values:
        spdx_id = fixup_id(value.strip())
        out.append(DisjunctiveLicense(id=spdx_id) if spdx_id else DisjunctiveLicense(name=value))
    return out


def _package_component(pkg: Package, pid: str) -> Component:
    from cyclonedx.model.component import Component, ComponentType

    pairs: list[tuple[str, str]] = [("package:type", str(pkg.type))]
    if pkg.layer:
        pairs.append(("layer", pkg.layer))
    for n, loc in enumerate(pkg.locations):
        pairs.append((f"location:{n}:path", loc.path))
        if loc.layer:
            pairs.append((f"location:{n}:layer", loc.layer))
    if pkg.source_name:
        pairs.append(("source:name", pkg.source_name))
    if pkg.source_version:
        pairs.append(("source:version", pkg.source_version))
    if pkg.arch:
        pairs.append(("arch", pkg.arch))
    pairs.extend((f"metadata:{k}", v) for k, v in pkg.metadata)
    purl = parse_purl(pkg.purl)
    if purl is None:
        log.warning(
            "package %s %s: purl %r does not parse; written without purl", pkg.name, pkg.version, pkg.purl
        )
    ref_base = pkg.purl if purl is not None else f"pkg-{pkg.type}-{pkg.name}"
    return Component(
        type=ComponentType.LIBRARY,
        name=pkg.name,
        version=pkg.version,
        purl=purl,
        bom_ref=f"{ref_base}{'&' if '?' in ref_base else '?'}package-id={pid}",
        licenses=_licenses(pkg.licenses),
        properties=_props(pairs),
    )

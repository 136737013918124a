"""SPDX 2.3 JSON, built and validated with ``spdx-tools``.

The document DESCRIBES one package, the image (purpose CONTAINER, version = manifest digest, purl
``pkg:oci/...``), which CONTAINS the distro (purpose OPERATING-SYSTEM) and every package found.
Packages carry a PACKAGE-MANAGER purl reference; ``licenseDeclared`` is the SPDX expression of
the licenses found, each one that is not a valid SPDX expression written as a ``LicenseRef-``
whose text is in ``hasExtractedLicensingInfos`` (SPDX 2.3 clause 10, as syft does; the licenses
as found are also kept in ``licenseComments``); ``sourceInfo`` names the paths and layers where the
package was found.  The document namespace is unique per run (a UUID), unless the timestamp is
pinned by ``SOURCE_DATE_EPOCH``, when it is derived from the content.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from imgsec.errors import InputError
from imgsec.sbom.formats._common import (
    TOOL_NAME,
    TOOL_VERSION,
    canonical,
    created_timestamp,
    image_purl,
    unique_ids,
)
from imgsec.sbom.model import SBOM, Distro, ImageSummary, Package

if TYPE_CHECKING:
    from spdx_tools.spdx.model.package import Package as SpdxPackage

SPDX_VERSION = "SPDX-2.3"
NAMESPACE_BASE = "https://spdx.org/spdxdocs/"  # the base SPDX 2.3 section 6.5 suggests for shared documents
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_MAX_LICENSE_TEXT = 10_000
_TOP_LEVEL_ORDER = (
    "spdxVersion",
    "dataLicense",
    "SPDXID",
    "name",
    "documentNamespace",
    "creationInfo",
    "packages",
    "relationships",
)


def to_spdx(sbom: SBOM, *, created: datetime | None = None, namespace: str | None = None) -> str:
    """Serialise ``sbom`` as SPDX 2.3 JSON; ``namespace`` overrides the generated document namespace."""
    # Imported here: spdx-tools takes ~0.3 s to import and most commands never need it.
    from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
    from spdx_tools.spdx.model.actor import Actor, ActorType
    from spdx_tools.spdx.model.document import CreationInfo, Document
    from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
    from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
    from spdx_tools.spdx.validation.creation_info_validator import validate_creation_info
    from spdx_tools.spdx.validation.extracted_licensing_info_validator import (
        validate_extracted_licensing_infos,
    )
    from spdx_tools.spdx.validation.package_validator import validate_packages

    from imgsec.sbom.formats import native

    sbom = canonical(sbom)
    if namespace is None:
        doc_uuid = native.document_uuid(sbom, created, "spdx")
        namespace = f"{NAMESPACE_BASE}{_id_part(sbom.image.name)}-{doc_uuid}"
    creation = CreationInfo(
        spdx_version=SPDX_VERSION,
        spdx_id="SPDXRef-DOCUMENT",
        name=sbom.image.name or "image",
        document_namespace=namespace,
        creators=[Actor(ActorType.TOOL, f"{TOOL_NAME}-{TOOL_VERSION}")],
        created=created_timestamp(created),
    )
    root = _image_package(sbom.image)
    license_refs = _LicenseRefs()
    packages = [root]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, root.spdx_id)]
    if sbom.distro is not None:
        os_pkg = _distro_package(sbom.distro)
        packages.append(os_pkg)
        relationships.append(Relationship(root.spdx_id, RelationshipType.CONTAINS, os_pkg.spdx_id))
    for pkg, pid in zip(sbom.packages, unique_ids(sbom.packages), strict=True):
        spdx_pkg = _package(pkg, pid, license_refs)
        packages.append(spdx_pkg)
        relationships.append(Relationship(root.spdx_id, RelationshipType.CONTAINS, spdx_pkg.spdx_id))
    extracted = [
        ExtractedLicensingInfo(license_id=ref, extracted_text=text, license_name=text)
        for ref, text in license_refs.texts.items()
    ]
    document = Document(
        creation_info=creation,
        packages=packages,
        relationships=relationships,
        extracted_licensing_info=extracted,
    )
    # Each element on its own: spdx-tools' whole-document validator is quadratic in the number of
    # packages (minutes for a large image).  The relationships and SPDX ids are valid by
    # construction (ids are unique, every relationship names a package written here).
    problems = (
        validate_creation_info(creation, SPDX_VERSION)
        + validate_packages(packages, SPDX_VERSION)
        + validate_extracted_licensing_infos(extracted)
    )
    if problems:
        # Only data the image itself carries can get here (e.g. a name SPDX cannot hold).
        raise InputError(
            f"cannot write a valid SPDX 2.3 document for {sbom.image.name!r}: "
            f"{problems[0].validation_message} ({len(problems)} problem(s)); use --format cyclonedx or json"
        )
    converted: dict[str, Any] = DocumentConverter().convert(document)  # type: ignore[no-untyped-call]
    for package in converted.get("packages", []):
        # spdx-tools 0.8 writes enum names (OPERATING_SYSTEM, PACKAGE_MANAGER); the SPDX 2.3 spec and
        # its JSON schema spell them with a hyphen (the schema rejects OPERATING_SYSTEM outright).
        if "primaryPackagePurpose" in package:
            package["primaryPackagePurpose"] = package["primaryPackagePurpose"].replace("_", "-")
        for ref in package.get("externalRefs", []):
            ref["referenceCategory"] = ref["referenceCategory"].replace("_", "-")
    ordered = {k: converted[k] for k in _TOP_LEVEL_ORDER if k in converted}
    ordered.update((k, v) for k, v in converted.items() if k not in ordered)
    return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def _id_part(text: str) -> str:
    return _ID_UNSAFE.sub("-", text).strip("-")[:100] or "x"


def _no_assertion_fields() -> dict[str, Any]:
    from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion

    return {
        "download_location": SpdxNoAssertion(),
        "supplier": SpdxNoAssertion(),
        "files_analyzed": False,
        "license_concluded": SpdxNoAssertion(),
        "license_declared": SpdxNoAssertion(),
        "copyright_text": SpdxNoAssertion(),
    }


def _purl_ref(purl: str) -> Any:
    from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory

    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl)


def _image_package(image: ImageSummary) -> SpdxPackage:
    from spdx_tools.spdx.model.package import Package as SpdxPackage
    from spdx_tools.spdx.model.package import PackagePurpose

    purl = image_purl(image)
    return SpdxPackage(
        spdx_id=f"SPDXRef-DocumentRoot-Image-{_id_part(image.name)}",
        name=image.name or "image",
        version=image.manifest_digest,
        primary_package_purpose=PackagePurpose.CONTAINER,
        external_references=[_purl_ref(purl)] if purl else [],
        **_no_assertion_fields(),
    )


def _distro_package(distro: Distro) -> SpdxPackage:
    from spdx_tools.spdx.model.package import Package as SpdxPackage
    from spdx_tools.spdx.model.package import PackagePurpose

    return SpdxPackage(
        spdx_id=f"SPDXRef-OperatingSystem-{_id_part(distro.id)}-{_id_part(distro.version_id or 'unknown')}",
        name=distro.id,
        version=distro.version_id,
        description=distro.pretty_name,
        primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
        **_no_assertion_fields(),
    )


class _LicenseRefs:
    """The ``LicenseRef-`` ids of one document: the same text gets the same id, texts never share one."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self._ids: dict[str, str] = {}

    def ref(self, text: str) -> str:
        found = self._ids.get(text)
        if found is None:
            found = "LicenseRef-" + _id_part(text)
            if found in self.texts:  # another text sanitises to the same id
                found += "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
            self._ids[text] = found
            self.texts[found] = text
        return found


def _valid_expression(value: str) -> str | None:
    from spdx_tools.common.spdx_licensing import spdx_licensing

    try:
        info = spdx_licensing.validate(value)
    except Exception:  # license-expression crashes on some malformed input; that is "not valid"
        return None
    if info.errors or not info.normalized_expression:
        return None
    return str(info.normalized_expression)


def license_expression(licenses: tuple[str, ...], refs: _LicenseRefs | None = None) -> str | None:
    """The SPDX expression declaring all ``licenses`` (AND).

    A license that is no valid SPDX expression becomes a ``LicenseRef-`` from ``refs``; without
    ``refs`` there is then no expression (``None``).
    """
    parts: list[str] = []
    for raw in licenses:
        value = raw.strip()[:_MAX_LICENSE_TEXT]
        if not value:
            continue
        normalized = _valid_expression(value)
        if normalized is None:
            if refs is None:
                return None
            normalized = refs.ref(value)
        parts.append(normalized)
    if not parts:
        return None
    unique = list(dict.fromkeys(parts))
    if len(unique) == 1:
        return unique[0]
    return " AND ".join(f"({p})" if " " in p else p for p in unique)


def _package(pkg: Package, pid: str, refs: _LicenseRefs) -> SpdxPackage:
    from license_expression import Licensing
    from spdx_tools.spdx.model.package import Package as SpdxPackage
    from spdx_tools.spdx.model.package import PackagePurpose

    fields = _no_assertion_fields()
    comment = None
    expression = license_expression(pkg.licenses, refs)
    if expression is not None:
        # Parsed without the SPDX symbol table: its aliases would turn LicenseRef-Apache-2.0 back
        # into Apache-2.0 (the parts that are SPDX ids were normalised by it already).
        fields["license_declared"] = Licensing().parse(expression)
        if license_expression(pkg.licenses) is None:  # some became LicenseRefs: keep them as found
            comment = "licenses as found (not valid SPDX expressions): " + "; ".join(pkg.licenses)
    where = ", ".join(f"{loc.path}" + (f" (layer {loc.layer})" if loc.layer else "") for loc in pkg.locations)
    return SpdxPackage(
        spdx_id=f"SPDXRef-Package-{_id_part(str(pkg.type))}-{_id_part(pkg.name)}-{pid}",
        name=pkg.name or "unnamed",
        version=pkg.version or None,
        source_info=f"found by imgsec at: {where}" if where else None,
        license_comment=comment,
        external_references=[_purl_ref(pkg.purl)] if pkg.purl else [],
        primary_package_purpose=PackagePurpose.LIBRARY,
        **fields,
    )

"""Read an SBOM back: imgsec JSON, CycloneDX JSON (1.2-1.6), SPDX 2.2/2.3 JSON and syft JSON.

The format is detected from the document itself.  Foreign documents (syft's, other tools') are
mapped onto the imgsec model: the package type comes from the document's own type field where it
names one imgsec models (``imgsec:package:type``/``syft:package:type`` properties, syft ``type``,
the ``jenkins-plugin`` an SPDX id names), else from the purl type; the distro source package from
the purl ``upstream=`` qualifier; the distro from an operating-system component, else from a purl ``distro=`` qualifier.  Packages of
ecosystems imgsec does not model are skipped (logged).  Every malformed input raises
:class:`InputError` with one line saying what is wrong.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from imgsec.errors import ImgsecError, InputError
from imgsec.sbom.formats import native
from imgsec.sbom.formats._common import (
    MAX_SBOM_SIZE,
    PACKAGE_PURL_TYPES,
    Fields,
    arch_from_purl,
    distro_from_purls,
    load_json,
    package_type,
    parse_purl,
    source_from_purl,
    spdx_type_hint,
    type_from_purl,
)
from imgsec.sbom.model import SBOM, Distro, ImageSummary, LayerSummary, Location, Package

log = logging.getLogger(__name__)

_DIGEST_RE = re.compile(r"^sha(256:[0-9a-f]{64}|512:[0-9a-f]{128})$")
_LOCATION_PROP_RE = re.compile(r"^(imgsec|syft):location:(\d{1,6}):(path|layer|layerID)$")
_LAYER_PROP_RE = re.compile(r"^imgsec:image:layer:(\d{1,6}):(digest|diffID|mediaType|size|createdBy)$")
_IMGSEC_SOURCE_INFO = "found by imgsec at: "
_IMGSEC_LICENSE_COMMENT = "licenses as found (not valid SPDX expressions): "
_SOURCE_INFO_ITEM_RE = re.compile(r"^(.*?)(?: \(layer (sha(?:256|512):[0-9a-f]+)\))?$")


def read_sbom(source: str | os.PathLike[str] | bytes) -> SBOM:
    """Read an SBOM from a file path or from the document's bytes, detecting its format."""
    if isinstance(source, bytes):
        data, what = source, "SBOM"
    else:
        data, what = _read_file(Path(source)), f"SBOM {os.fspath(source)}"
    stripped = data.lstrip()[:64]
    if stripped.startswith(b"<"):
        raise InputError(
            f"{what}: looks like XML; imgsec reads JSON SBOMs only (CycloneDX, SPDX, syft, imgsec)"
        )
    if stripped.startswith((b"SPDXVersion", b"##")):
        raise InputError(f"{what}: looks like SPDX tag-value; imgsec reads SPDX JSON only (convert it first)")
    doc = load_json(data, what)
    reader = _detect(doc, what)
    try:
        return reader(doc, what)
    except ImgsecError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        # A shape the explicit checks did not foresee: still one line, never a traceback.
        raise InputError(f"{what}: malformed document ({type(e).__name__}: {str(e)[:120]})") from None


def _read_file(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise InputError(f"SBOM {path}: is a directory; give the SBOM file")
        if size > MAX_SBOM_SIZE:
            raise InputError(
                f"SBOM {path}: {size} bytes is larger than the {MAX_SBOM_SIZE // (1024 * 1024)} MiB limit "
                "for SBOM documents; is this really an SBOM?"
            )
        with path.open("rb") as f:
            data = f.read(MAX_SBOM_SIZE + 1)
    except FileNotFoundError:
        raise InputError(f"SBOM {path}: no such file") from None
    except PermissionError:
        raise InputError(f"SBOM {path}: permission denied") from None
    except OSError as e:
        raise InputError(f"SBOM {path}: cannot read it ({e.strerror or e})") from None
    if len(data) > MAX_SBOM_SIZE:  # grew while we read it
        raise InputError(f"SBOM {path}: larger than the {MAX_SBOM_SIZE // (1024 * 1024)} MiB limit")
    return data


def _detect(doc: Any, what: str) -> Callable[[Any, str], SBOM]:
    if not isinstance(doc, dict):
        raise InputError(f"{what}: the document must be a JSON object, got {type(doc).__name__}")
    if native.is_native(doc):
        return lambda d, _w: native.from_document(d)
    if doc.get("bomFormat") == "CycloneDX":
        return _read_cyclonedx
    spdx_version = doc.get("spdxVersion")
    if isinstance(spdx_version, str):
        if spdx_version.startswith("SPDX-2."):
            return _read_spdx
        raise InputError(
            f"{what}: {spdx_version[:20]!r} is not supported; imgsec reads SPDX 2.2 and 2.3 JSON"
        )
    if "@context" in doc and "spdx" in str(doc.get("@context"))[:200].lower():
        raise InputError(f"{what}: SPDX 3 JSON-LD is not supported; imgsec reads SPDX 2.2 and 2.3 JSON")
    if isinstance(doc.get("artifacts"), list) and _is_syft(doc):
        return _read_syft
    raise InputError(
        f"{what}: not a recognised SBOM; expected imgsec JSON, CycloneDX JSON, SPDX 2.x JSON or syft JSON"
    )


def _is_syft(doc: dict[str, Any]) -> bool:
    schema = doc.get("schema")
    descriptor = doc.get("descriptor")
    return (isinstance(schema, dict) and "syft" in str(schema.get("url", ""))) or (
        isinstance(descriptor, dict) and descriptor.get("name") == "syft"
    )


# --- shared mapping of one foreign package ------------------------------------------------------


@dataclass
class _Skipped:
    count: int = 0
    example: str = ""

    def add(self, name: str, why: str) -> None:
        self.count += 1
        if not self.example:
            self.example = f"{name} ({why})"

    def log(self, what: str) -> None:
        if self.count:
            log.warning(
                "%s: skipped %d package(s) imgsec does not model, e.g. %s", what, self.count, self.example
            )


def _strip_root(path: str) -> str:
    """Locations are image-relative without a leading slash, as imgsec's catalogers report them."""
    return path.lstrip("/")


def _foreign_package(
    *,
    name: str | None,
    version: str | None,
    purl_text: str | None,
    type_hint: str | None,
    licenses: tuple[str, ...],
    locations: tuple[Location, ...],
    skipped: _Skipped,
    source: tuple[str | None, str | None] | None = None,
    arch: str | None = None,
    layer: str | None = None,
    metadata: tuple[tuple[str, str], ...] = (),
) -> tuple[Package | None, PackageURL | None]:
    purl = parse_purl(purl_text) if purl_text else None
    ptype = package_type(type_hint) or type_from_purl(purl)
    label = name or purl_text or "?"
    if ptype is None:
        skipped.add(label, f"type {type_hint or (purl.type if purl else 'unknown')}")
        return None, purl
    name = name or (purl.name if purl else None)
    version = version if version is not None else (purl.version if purl else None)
    if not name:
        skipped.add(label, "no name")
        return None, purl
    version = version or ""
    if purl is None:
        purl = PackageURL(type=PACKAGE_PURL_TYPES[ptype], name=name, version=version or None)
        purl_text = purl.to_string()
    src_name, src_version = source if source is not None else source_from_purl(purl, ptype, name, version)
    if layer is None and locations:
        layer = locations[0].layer
    return (
        Package(
            name=name,
            version=version,
            type=ptype,
            purl=purl_text or purl.to_string(),
            source_name=src_name,
            source_version=src_version,
            licenses=tuple(lic for lic in licenses if lic),
            locations=locations,
            layer=layer,
            arch=arch or arch_from_purl(purl),
            metadata=metadata,
        ),
        purl,
    )


def _digest_or_none(value: str | None) -> str | None:
    return value if value and _DIGEST_RE.match(value) else None


# --- CycloneDX ---------------------------------------------------------------------------------


def _read_cyclonedx(doc: Any, what: str) -> SBOM:
    what = f"{what} (CycloneDX)"
    root = Fields(doc, "$", what)
    spec = root.opt_string("specVersion") or ""
    m = re.match(r"^1\.(\d+)$", spec)
    if not m or int(m.group(1)) < 2:
        raise InputError(
            f"{what}: specVersion {spec[:20]!r} is not supported; imgsec reads CycloneDX 1.2 to 1.6"
        )
    metadata = root.opt_obj("metadata")
    image_fields = metadata.opt_obj("component") if metadata is not None else None

    distro: Distro | None = None
    packages: list[Package] = []
    purls: list[PackageURL | None] = []
    skipped = _Skipped()
    for comp in _cdx_components(root):
        ctype = comp.opt_string("type")
        props = _cdx_properties(comp)
        if ctype == "operating-system":
            if distro is None:
                distro = _cdx_distro(comp, props)
            continue
        pkg, purl = _cdx_package(comp, props, skipped)
        purls.append(purl)
        if pkg is not None:
            packages.append(pkg)
    skipped.log(what)
    return SBOM(
        image=_cdx_image(image_fields),
        distro=distro or distro_from_purls(purls),
        packages=tuple(packages),
    )


def _cdx_components(root: Fields) -> Iterator[Fields]:
    stack = list(reversed(root.objs("components")))
    while stack:
        comp = stack.pop()
        yield comp
        stack.extend(reversed(comp.objs("components")))


def _cdx_properties(comp: Fields) -> dict[str, str]:
    props: dict[str, str] = {}
    for prop in comp.objs("properties"):
        name = prop.opt_string("name")
        value = prop.opt_string("value")
        if name is not None and value is not None and name not in props:
            props[name] = value
    return props


def _cdx_licenses(comp: Fields) -> tuple[str, ...]:
    out: list[str] = []
    for choice in comp.objs("licenses"):
        expression = choice.opt_string("expression")
        if expression:
            out.append(expression)
            continue
        lic = choice.opt_obj("license")
        if lic is not None:
            value = lic.opt_string("id") or lic.opt_string("name")
            if value:
                out.append(value)
    return tuple(out)


def _indexed_locations(props: dict[str, str]) -> tuple[Location, ...]:
    paths: dict[tuple[str, int], str] = {}
    layers: dict[tuple[str, int], str] = {}
    for name, value in props.items():
        m = _LOCATION_PROP_RE.match(name)
        if not m:
            continue
        key = (m.group(1), int(m.group(2)))
        (paths if m.group(3) == "path" else layers)[key] = value
    # imgsec's own properties win over syft's when a document carries both.
    ns = "imgsec" if any(k[0] == "imgsec" for k in paths) else "syft"
    return tuple(
        Location(_strip_root(paths[key]), layers.get(key) or None)
        for key in sorted(k for k in paths if k[0] == ns)
    )


def _cdx_package(
    comp: Fields, props: dict[str, str], skipped: _Skipped
) -> tuple[Package | None, PackageURL | None]:
    source: tuple[str | None, str | None] | None = None
    if "imgsec:source:name" in props or "imgsec:source:version" in props:
        source = (props.get("imgsec:source:name"), props.get("imgsec:source:version"))
    metadata = tuple(
        (name[len("imgsec:metadata:") :], value)
        for name, value in props.items()
        if name.startswith("imgsec:metadata:")
    )
    return _foreign_package(
        name=comp.opt_string("name"),
        version=comp.opt_string("version"),
        purl_text=comp.opt_string("purl"),
        type_hint=props.get("imgsec:package:type") or props.get("syft:package:type"),
        licenses=_cdx_licenses(comp),
        locations=_indexed_locations(props),
        skipped=skipped,
        source=source,
        arch=props.get("imgsec:arch"),
        layer=props.get("imgsec:layer"),
        metadata=metadata,
    )


def _cdx_distro(comp: Fields, props: dict[str, str]) -> Distro | None:
    distro_id = props.get("syft:distro:id") or comp.opt_string("name")
    if not distro_id:
        return None
    id_like = props.get("imgsec:distro:idLike") or props.get("syft:distro:idLike") or ""
    return Distro(
        id=distro_id,
        version_id=comp.opt_string("version") or props.get("syft:distro:versionID") or None,
        version_codename=props.get("imgsec:distro:versionCodename")
        or props.get("syft:distro:versionCodename"),
        pretty_name=comp.opt_string("description") or props.get("syft:distro:prettyName"),
        id_like=tuple(id_like.replace(",", " ").split()),
    )


def _cdx_image(comp: Fields | None) -> ImageSummary:
    if comp is None:
        return ImageSummary(
            name="unknown", manifest_digest=None, config_digest=None, os=None, architecture=None
        )
    props = _cdx_properties(comp)
    purl = parse_purl(comp.opt_string("purl") or "")
    layer_fields: dict[int, dict[str, str]] = {}
    for name, value in props.items():
        m = _LAYER_PROP_RE.match(name)
        if m:
            layer_fields.setdefault(int(m.group(1)), {})[m.group(2)] = value
    layers = []
    for index in sorted(layer_fields):
        f = layer_fields[index]
        digest = _digest_or_none(f.get("digest"))
        size = f.get("size", "")
        if digest is None or not size.isdigit():
            continue
        layers.append(
            LayerSummary(
                index=index,
                digest=digest,
                diff_id=_digest_or_none(f.get("diffID")),
                media_type=f.get("mediaType", ""),
                size=int(size),
                created_by=f.get("createdBy"),
            )
        )
    repo_digests = tuple(
        value
        for name, value in sorted(props.items(), key=lambda kv: _prop_index(kv[0]))
        if name.startswith("imgsec:image:repoDigest:")
    )
    labels = tuple(
        (name[len("imgsec:image:label:") :], value)
        for name, value in props.items()
        if name.startswith("imgsec:image:label:")
    )
    return ImageSummary(
        name=comp.opt_string("name") or "unknown",
        manifest_digest=_digest_or_none(comp.opt_string("version")),
        config_digest=_digest_or_none(props.get("imgsec:image:configDigest")),
        os=props.get("imgsec:image:os"),
        architecture=props.get("imgsec:image:architecture") or arch_from_purl(purl),
        variant=props.get("imgsec:image:variant"),
        layers=tuple(layers),
        repo_digests=repo_digests,
        user=props.get("imgsec:image:user"),
        labels=labels,
    )


def _prop_index(name: str) -> int:
    tail = name.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() and len(tail) < 7 else 0


# --- SPDX 2.x ----------------------------------------------------------------------------------


def _read_spdx(doc: Any, what: str) -> SBOM:
    what = f"{what} (SPDX)"
    root = Fields(doc, "$", what)
    extracted: dict[str, str] = {}
    for info in root.objs("hasExtractedLicensingInfos"):
        license_id = info.opt_string("licenseId")
        text = info.opt_string("name") or info.opt_string("extractedText")
        if license_id and text and len(text) <= 200:
            extracted[license_id] = text.strip()

    described = set(root.strings("documentDescribes"))
    for rel in root.objs("relationships"):
        if (
            rel.opt_string("relationshipType") == "DESCRIBES"
            and rel.opt_string("spdxElementId") == "SPDXRef-DOCUMENT"
        ):
            target = rel.opt_string("relatedSpdxElement")
            if target:
                described.add(target)

    image: ImageSummary | None = None
    distro: Distro | None = None
    packages: list[Package] = []
    purls: list[PackageURL | None] = []
    skipped = _Skipped()
    for pf in root.objs("packages"):
        purpose = (pf.opt_string("primaryPackagePurpose") or "").replace("_", "-")
        spdx_id = pf.opt_string("SPDXID") or ""
        purl_text = _spdx_purl(pf)
        if purpose == "OPERATING-SYSTEM":
            if distro is None and pf.opt_string("name"):
                distro = Distro(
                    id=pf.string("name"),
                    version_id=pf.opt_string("versionInfo"),
                    pretty_name=pf.opt_string("description"),
                )
            continue
        if spdx_id in described and image is None:
            image = _spdx_image(pf, purl_text)
            continue
        if purl_text is None:
            skipped.add(pf.opt_string("name") or spdx_id, "no purl")
            continue
        pkg, purl = _foreign_package(
            name=pf.opt_string("name"),
            version=pf.opt_string("versionInfo"),
            purl_text=purl_text,
            type_hint=spdx_type_hint(spdx_id, parse_purl(purl_text)),
            licenses=_spdx_licenses(pf, extracted),
            locations=_spdx_locations(pf),
            skipped=skipped,
        )
        purls.append(purl)
        if pkg is not None:
            packages.append(pkg)
    skipped.log(what)
    if image is None:
        image = ImageSummary(
            name=root.opt_string("name") or "unknown",
            manifest_digest=None,
            config_digest=None,
            os=None,
            architecture=None,
        )
    return SBOM(image=image, distro=distro or distro_from_purls(purls), packages=tuple(packages))


def _spdx_purl(pf: Fields) -> str | None:
    for ref in pf.objs("externalRefs"):
        if ref.opt_string("referenceType") == "purl":
            locator = ref.opt_string("referenceLocator")
            if locator:
                return locator
    return None


def _spdx_licenses(pf: Fields, extracted: dict[str, str]) -> tuple[str, ...]:
    comment = pf.opt_string("licenseComments") or ""
    if comment.startswith(_IMGSEC_LICENSE_COMMENT):
        return tuple(v for v in comment[len(_IMGSEC_LICENSE_COMMENT) :].split("; ") if v)
    declared = (pf.opt_string("licenseDeclared") or "").strip()
    if not declared or declared in ("NOASSERTION", "NONE"):
        return ()
    if declared in extracted:
        return (extracted[declared],)
    # imgsec writes several licenses as "(A) AND (B)"; one expression is one license otherwise.
    return (declared,)


def _spdx_locations(pf: Fields) -> tuple[Location, ...]:
    info = pf.opt_string("sourceInfo") or ""
    if not info.startswith(_IMGSEC_SOURCE_INFO):
        return ()
    out = []
    for item in info[len(_IMGSEC_SOURCE_INFO) :].split(", "):
        m = _SOURCE_INFO_ITEM_RE.match(item)
        if m and m.group(1):
            out.append(Location(m.group(1), m.group(2)))
    return tuple(out)


def _spdx_image(pf: Fields, purl_text: str | None) -> ImageSummary:
    purl = parse_purl(purl_text) if purl_text else None
    return ImageSummary(
        name=pf.opt_string("name") or "unknown",
        manifest_digest=_digest_or_none(pf.opt_string("versionInfo")),
        config_digest=None,
        os=None,
        architecture=arch_from_purl(purl),
    )


# --- syft JSON ---------------------------------------------------------------------------------


def _read_syft(doc: Any, what: str) -> SBOM:
    what = f"{what} (syft JSON)"
    root = Fields(doc, "$", what)
    packages: list[Package] = []
    purls: list[PackageURL | None] = []
    skipped = _Skipped()
    for art in root.objs("artifacts"):
        locations = tuple(
            Location(_strip_root(loc.string("path")), loc.opt_string("layerID") or None)
            for loc in art.objs("locations")
        )
        pkg, purl = _foreign_package(
            name=art.opt_string("name"),
            version=art.opt_string("version"),
            purl_text=art.opt_string("purl") or None,
            type_hint=art.opt_string("type"),
            licenses=_syft_licenses(art),
            locations=locations,
            skipped=skipped,
        )
        purls.append(purl)
        if pkg is not None:
            packages.append(pkg)
    skipped.log(what)
    distro_fields = root.opt_obj("distro")
    distro = _syft_distro(distro_fields) if distro_fields is not None else None
    return SBOM(
        image=_syft_image(root.opt_obj("source")),
        distro=distro or distro_from_purls(purls),
        packages=tuple(packages),
    )


def _syft_licenses(art: Fields) -> tuple[str, ...]:
    out: list[str] = []
    for i, item in enumerate(art.array("licenses")):
        if isinstance(item, str):  # syft JSON schema < 8
            out.append(item)
            continue
        lic = Fields(item, f"{art.where}.licenses[{i}]", art.what)
        value = lic.opt_string("spdxExpression") or lic.opt_string("value")
        if value:
            out.append(value)
    return tuple(out)


def _syft_distro(f: Fields) -> Distro | None:
    distro_id = f.opt_string("id") or f.opt_string("name")
    if not distro_id:
        return None
    id_like = f.d.get("idLike")
    return Distro(
        id=distro_id,
        version_id=f.opt_string("versionID") or f.opt_string("version") or None,
        version_codename=f.opt_string("versionCodename") or None,
        pretty_name=f.opt_string("prettyName") or None,
        id_like=f.strings("idLike") if isinstance(id_like, list) else (),
    )


def _syft_image(source: Fields | None) -> ImageSummary:
    if source is None:
        return ImageSummary(
            name="unknown", manifest_digest=None, config_digest=None, os=None, architecture=None
        )
    meta = source.opt_obj("metadata") or source.opt_obj("target")
    name = source.opt_string("name") or (meta.opt_string("userInput") if meta else None) or "unknown"
    if meta is None or source.opt_string("type") != "image":
        return ImageSummary(name=name, manifest_digest=None, config_digest=None, os=None, architecture=None)
    layers = []
    for index, lf in enumerate(meta.objs("layers")):
        digest = _digest_or_none(lf.opt_string("digest"))
        size = lf.opt_integer("size")
        if digest is None or size is None or size < 0:
            continue
        # syft lists layers by diff_id (the digest of the uncompressed tar): it is both here.
        layers.append(
            LayerSummary(
                index=index,
                digest=digest,
                diff_id=digest,
                media_type=lf.opt_string("mediaType") or "",
                size=size,
            )
        )
    return ImageSummary(
        name=meta.opt_string("userInput") or name,
        manifest_digest=_digest_or_none(meta.opt_string("manifestDigest")),
        config_digest=_digest_or_none(meta.opt_string("imageID")),
        os=meta.opt_string("os") or None,
        architecture=meta.opt_string("architecture") or None,
        variant=meta.opt_string("variant") or None,
        layers=tuple(layers),
        repo_digests=meta.strings("repoDigests"),
    )

"""Helpers shared by the SBOM writers and readers: timestamps, ordering, purls, hostile JSON."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from typing import Any

from packageurl import PackageURL

from imgsec import __version__
from imgsec.errors import InputError
from imgsec.reference import parse_reference
from imgsec.sbom.model import SBOM, Distro, ImageSummary, Package, PackageType

TOOL_NAME = "imgsec"
TOOL_VERSION = __version__

#: Largest SBOM document read into memory; a real image's SBOM is a few MiB.
MAX_SBOM_SIZE = 256 * 1024 * 1024
#: Deepest JSON nesting accepted; real SBOMs nest fewer than 20 levels.
MAX_JSON_DEPTH = 64

#: Image names that are local sources, not registry references (``oci-archive:x.tar`` would
#: otherwise parse as the reference ``docker.io/library/oci-archive:x.tar``).
LOCAL_SOURCE_PREFIXES = ("oci:", "oci-archive:", "docker-archive:", "dir:")

#: purl type -> package type (purl spec type names; syft's package type names on the right).
PURL_TYPES: dict[str, PackageType] = {
    "deb": PackageType.DEB,
    "apk": PackageType.APK,
    "rpm": PackageType.RPM,
    "pypi": PackageType.PYTHON,
    "npm": PackageType.NPM,
    "golang": PackageType.GO_MODULE,
    "maven": PackageType.JAVA_ARCHIVE,
    "gem": PackageType.GEM,
    "cargo": PackageType.RUST_CRATE,
}

#: package type -> purl type: the inverse of :data:`PURL_TYPES`, plus the types that share a purl
#: type with another (a Jenkins plugin is a Maven artifact: ``pkg:maven``, as syft writes it).
PACKAGE_PURL_TYPES: dict[PackageType, str] = {v: k for k, v in PURL_TYPES.items()} | {
    PackageType.JENKINS_PLUGIN: "maven"
}

#: SPDX ids name the package type (``SPDXRef-Package-<type>-<name>-<id>``, the way syft and imgsec
#: write them); the only place SPDX keeps a type the purl cannot tell apart.
_SPDX_ID_TYPES: dict[str, tuple[str, PackageType]] = {
    "SPDXRef-Package-jenkins-plugin-": ("maven", PackageType.JENKINS_PLUGIN),
}


def spdx_type_hint(spdx_id: str, purl: PackageURL | None) -> str | None:
    """The package type an SPDX id names, when its purl type alone would say something broader.

    ``SPDXRef-Package-jenkins-plugin-...`` with a ``pkg:maven`` purl is a Jenkins plugin; any other
    id (or a purl of another type) gives no hint and the purl type decides.
    """
    if purl is None:
        return None
    for prefix, (purl_type, ptype) in _SPDX_ID_TYPES.items():
        if spdx_id.startswith(prefix) and purl.type == purl_type:
            return str(ptype)
    return None


#: Package types whose purl ``upstream=`` qualifier names the distro source package.
OS_PACKAGE_TYPES = frozenset({PackageType.DEB, PackageType.APK, PackageType.RPM})


def created_timestamp(created: datetime | None = None) -> datetime:
    """The document timestamp: ``created``, else ``SOURCE_DATE_EPOCH``, else now (UTC, whole seconds)."""
    if created is not None:
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return created.astimezone(UTC).replace(microsecond=0)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch is not None and epoch.strip():
        try:
            return datetime.fromtimestamp(int(epoch.strip()), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise InputError(
                f"SOURCE_DATE_EPOCH={epoch[:40]!r} is not a Unix timestamp: "
                "set it to whole seconds since 1970-01-01 UTC (e.g. $(git log -1 --format=%ct)) or unset it"
            ) from None
    return datetime.now(UTC).replace(microsecond=0)


def format_timestamp(when: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` suffix, whole seconds (what CycloneDX, SPDX and syft all accept)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def package_sort_key(pkg: Package) -> tuple[Any, ...]:
    """A total order on packages, so the same image always lists its packages the same way."""
    return (
        str(pkg.type),
        pkg.name,
        pkg.version,
        pkg.purl,
        pkg.layer or "",
        tuple((loc.path, loc.layer or "") for loc in pkg.locations),
        pkg.arch or "",
        pkg.source_name or "",
        pkg.source_version or "",
        pkg.licenses,
        pkg.metadata,
    )


def canonical(sbom: SBOM) -> SBOM:
    """``sbom`` with its packages in the canonical order every writer uses."""
    return SBOM(
        image=sbom.image, distro=sbom.distro, packages=tuple(sorted(sbom.packages, key=package_sort_key))
    )


def package_id(pkg: Package) -> str:
    """A short stable id of one package (16 hex), derived from everything that identifies it."""
    h = hashlib.sha256()
    for part in (
        str(pkg.type),
        pkg.name,
        pkg.version,
        pkg.purl,
        pkg.layer or "",
        pkg.arch or "",
        *(f"{loc.path}\x00{loc.layer or ''}" for loc in pkg.locations),
    ):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:16]


def unique_ids(packages: tuple[Package, ...]) -> list[str]:
    """One id per package, unique within the document even when two packages are identical."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for pkg in packages:
        base = package_id(pkg)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(base if n == 0 else f"{base}-{n}")
    return out


def image_purl(image: ImageSummary) -> str | None:
    """``pkg:oci/<name>@<digest>?repository_url=<registry/repo>`` for a registry image (purl spec oci type).

    ``None`` when the image has no manifest digest or its name is not a registry reference
    (``oci:DIR``, ``dir:ROOTFS``): a purl must identify the artifact, and a local path does not.
    """
    if not image.manifest_digest or image.name.startswith(LOCAL_SOURCE_PREFIXES):
        return None
    try:
        ref = parse_reference(image.name)
    except InputError:
        return None
    qualifiers: dict[str, str] = {"repository_url": ref.name}
    if image.architecture:
        qualifiers["arch"] = image.architecture
    if ref.tag:
        qualifiers["tag"] = ref.tag
    last = ref.repository.rsplit("/", 1)[-1]
    return PackageURL(type="oci", name=last, version=image.manifest_digest, qualifiers=qualifiers).to_string()


def distro_label(distro: Distro | None) -> str:
    """How a distro is shown to people: its PRETTY_NAME, else ``id version``."""
    if distro is None:
        return "unknown distro"
    if distro.pretty_name:
        return distro.pretty_name
    return " ".join(p for p in (distro.id, distro.version_id) if p)


# --- purls of packages read from foreign SBOMs -------------------------------------------------

_DISTRO_QUALIFIER_RE = re.compile(r"^(.+?)-(\d[\w.+~-]*)$")


def parse_purl(text: str) -> PackageURL | None:
    """A purl, or ``None`` (not an error) when it does not parse: foreign SBOMs hold odd ones."""
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def type_from_purl(purl: PackageURL | None) -> PackageType | None:
    return PURL_TYPES.get(purl.type) if purl is not None else None


def package_type(value: str | None) -> PackageType | None:
    """A package type from its name (imgsec/syft vocabulary), ``None`` when not one we model."""
    if value is None:
        return None
    try:
        return PackageType(value)
    except ValueError:
        return None


def source_from_purl(
    purl: PackageURL | None, ptype: PackageType, name: str, version: str
) -> tuple[str | None, str | None]:
    """The distro source package named by the purl's ``upstream=`` qualifier.

    syft writes ``upstream=openssl`` (source has the binary's version), ``upstream=gcc-12@12.2.0-14``,
    and for rpm the source rpm file name ``upstream=openssl-3.0.7-27.el9.src.rpm``.  Without the
    qualifier an OS package is its own source (dpkg and apk convention).  Language packages have none.
    """
    if ptype not in OS_PACKAGE_TYPES:
        return None, None
    qualifiers = _qualifiers(purl)
    upstream = qualifiers.get("upstream", "").strip()
    if not upstream:
        return name, version
    if ptype is PackageType.RPM and upstream.endswith(".src.rpm"):
        parts = upstream[: -len(".src.rpm")].rsplit("-", 2)
        if len(parts) == 3 and all(parts):
            epoch = qualifiers.get("epoch", "").strip()
            src_version = f"{parts[1]}-{parts[2]}"
            return parts[0], f"{epoch}:{src_version}" if epoch and epoch != "0" else src_version
        return upstream, None
    src_name, sep, src_version = upstream.partition("@")
    if sep and src_name and src_version:
        return src_name, src_version
    return upstream, version


def arch_from_purl(purl: PackageURL | None) -> str | None:
    return _qualifiers(purl).get("arch") or None


def distro_from_purls(purls: list[PackageURL | None]) -> Distro | None:
    """The distro named by the first ``distro=`` qualifier (``debian-12``, ``alpine-3.19.1``, ``rhel-9.4``)."""
    for purl in purls:
        value = _qualifiers(purl).get("distro", "").strip()
        if not value:
            continue
        m = _DISTRO_QUALIFIER_RE.match(value)
        if m:
            return Distro(id=m.group(1), version_id=m.group(2))
        return Distro(id=value)
    return None


def _qualifiers(purl: PackageURL | None) -> dict[str, str]:
    if purl is None or not isinstance(purl.qualifiers, dict):
        return {}
    return {str(k): str(v) for k, v in purl.qualifiers.items()}


# --- hostile JSON -------------------------------------------------------------------------------


def load_json(data: bytes, what: str) -> Any:
    """Parse a JSON document with a size cap; every failure is one clear :class:`InputError`."""
    if len(data) > MAX_SBOM_SIZE:
        raise InputError(
            f"{what}: {len(data)} bytes is larger than the {MAX_SBOM_SIZE // (1024 * 1024)} MiB limit "
            "for SBOM documents; is this really an SBOM?"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{what}: not UTF-8 text (byte {e.start}); an SBOM must be a UTF-8 JSON file"
        ) from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"{what}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise InputError(f"{what}: JSON nested too deeply; not an SBOM") from None
    except ValueError as e:  # e.g. an integer literal longer than Python's digit limit
        raise InputError(f"{what}: malformed JSON: {str(e)[:120]}") from None
    if _depth_exceeds(doc, MAX_JSON_DEPTH):
        raise InputError(f"{what}: JSON nested more than {MAX_JSON_DEPTH} levels deep; not an SBOM")
    return doc


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def _depth_exceeds(doc: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


class Fields:
    """Typed access to one JSON object of a hostile document, with errors naming the JSON path."""

    def __init__(self, value: Any, where: str, what: str) -> None:
        if not isinstance(value, dict):
            raise InputError(f"{what}: {where} must be an object, got {_type_name(value)}")
        self.d: dict[str, Any] = value
        self.where = where
        self.what = what

    def _fail(self, key: str, expected: str, value: Any) -> InputError:
        return InputError(f"{self.what}: {self.where}.{key} must be {expected}, got {_type_name(value)}")

    def has(self, key: str) -> bool:
        return self.d.get(key) is not None

    def string(self, key: str) -> str:
        value = self.d.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def opt_string(self, key: str) -> str | None:
        value = self.d.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def integer(self, key: str) -> int:
        value = self.d.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._fail(key, "an integer", value)
        return value

    def opt_integer(self, key: str) -> int | None:
        if self.d.get(key) is None:
            return None
        return self.integer(key)

    def array(self, key: str) -> list[Any]:
        """An array; a missing or null key is an empty array."""
        value = self.d.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "an array", value)
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        items = self.array(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise InputError(
                    f"{self.what}: {self.where}.{key}[{i}] must be a string, got {_type_name(item)}"
                )
        return tuple(items)

    def obj(self, key: str) -> Fields:
        return Fields(self.d.get(key), f"{self.where}.{key}", self.what)

    def opt_obj(self, key: str) -> Fields | None:
        if self.d.get(key) is None:
            return None
        return self.obj(key)

    def objs(self, key: str) -> list[Fields]:
        return [Fields(item, f"{self.where}.{key}[{i}]", self.what) for i, item in enumerate(self.array(key))]

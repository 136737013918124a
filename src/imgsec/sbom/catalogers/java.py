"""Java archives (jar, war, ear, Jenkins plugins, ...) and the archives nested inside them.

Mirrors syft's java-archive-cataloger for the facts it reads offline:

* the archive's own package comes from ``META-INF/MANIFEST.MF`` (an archive without a manifest
  declares no package of its own); its name and version come from the single ``pom.properties``
  whose artifactId starts with the name in the file name, else from the file name
  (``commons-lang3-3.12.0.jar``), else from manifest fields;
* every ``pom.properties`` declares a package (shaded dependencies); one that is the archive itself
  updates the archive's package instead;
* nested archives (``WEB-INF/lib``, ``BOOT-INF/lib``, plugins in wars) are read recursively;
* the type is syft's: an archive's own package is ``jenkins-plugin`` when its file name ends in
  ``.hpi``/``.jpi`` (``java-archive`` otherwise), a ``pom.properties`` package is ``jenkins-plugin``
  when its groupId is a Jenkins plugin group (:data:`JENKINS_PLUGIN_GROUPS`, or contains
  ``.jenkins.plugin``), and a ``pom.properties`` that is the archive itself gives the archive its
  type (an ``.hpi`` whose pom says ``com.example`` is a java-archive; a ``.jar`` whose pom says
  ``org.jenkins-ci.plugins`` is a jenkins-plugin).  Jars nested in a plugin keep their own type.

The purl namespace (Maven groupId) comes from ``pom.properties``, else from manifest fields that
look like a reverse domain name, else the artifact name, as syft does.  Not done: ``pom.xml``
parsing, syft's built-in artifactId->groupId table, network look-ups.

Every archive is hostile: nesting depth, the number of entries and the total number of bytes
inflated are bounded, and anything malformed yields no package rather than an error.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from packageurl import PackageURL

from imgsec.sbom.catalogers.base import FileInfo, MiB
from imgsec.sbom.model import Location, Package, PackageType

log = logging.getLogger(__name__)

#: The version syft reports when an archive declares none.
UNKNOWN_VERSION = "UNKNOWN"

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".lpkg")
MAX_DEPTH = 5
MAX_ENTRIES = 200_000
MAX_INFLATED = 1024 * MiB  # per top-level archive, nested archives included
MAX_SMALL_FILE = 1 * MiB  # a manifest or pom.properties larger than this is not one

_MANIFEST = "META-INF/MANIFEST.MF"
_PLUGIN_SUFFIXES = (".jpi", ".hpi")
#: groupId prefixes that mark a ``pom.properties`` package as a Jenkins plugin (as syft 1.18 has them).
JENKINS_PLUGIN_GROUPS = (
    "io.jenkins.plugins",
    "org.jenkins.plugins",
    "org.jenkins-ci.plugins",
    "io.jenkins-ci.plugins",
    "com.cloudbees.jenkins.plugins",
)
_TOP_LEVEL_DOMAINS = ("com", "org", "net", "io", "be")
_PRIMARY_GROUP_FIELDS = (
    "Group-Id",
    "Bundle-SymbolicName",
    "Extension-Name",
    "Specification-Vendor",
    "Implementation-Vendor",
    "Implementation-Vendor-Id",
    "Implementation-Title",
    "Bundle-Activator",
)
_SECONDARY_GROUP_FIELDS = ("Automatic-Module-Name", "Main-Class", "Package")
_NAME_FIELDS = ("Name", "Bundle-Name", "Short-Name", "Extension-Name", "Implementation-Title")
_VERSION_FIELDS = ("Implementation-Version", "Specification-Version", "Plugin-Version")

# syft's file-name pattern is written for Go's RE2 in ungreedy mode ((?U)); every quantifier here
# is the lazy equivalent.
_VERSION_ALTERNATIVES = r"(\d.*?|(build\d+?.*?)|(rc??\d+?(?:^[A-Za-z].*?)??))"
_NAME_AND_VERSION = re.compile(
    r"^(?P<name>(?:[A-Za-z][0-9A-Za-z_.]*?(?:\.[A-Za-z][0-9A-Za-z_.]*?)*?-??)+?)"
    rf"(?:-(?P<version>{_VERSION_ALTERNATIVES}))??$",
    re.IGNORECASE | re.ASCII,
)
_SECONDARY_VERSION = re.compile(
    rf"(?:[._-](?P<version>{_VERSION_ALTERNATIVES}))??$", re.IGNORECASE | re.ASCII
)


class _TooBig(Exception):
    """The archive exceeds a safety bound."""


@dataclass
class _Budget:
    max_inflated: int = MAX_INFLATED
    max_depth: int = MAX_DEPTH
    inflated: int = 0
    entries: int = 0

    def spend(self, inflated: int = 0, entries: int = 0) -> None:
        self.inflated += inflated
        self.entries += entries
        if self.inflated > self.max_inflated or self.entries > MAX_ENTRIES:
            raise _TooBig(f"more than {self.max_inflated} bytes inflated or {MAX_ENTRIES} entries")


@dataclass(frozen=True)
class Manifest:
    main: dict[str, str]
    sections: list[dict[str, str]]

    def get(self, key: str) -> str:
        if value := self.main.get(key, ""):
            return value
        for section in self.sections:
            if value := section.get(key, ""):
                return value
        return ""


@dataclass(frozen=True)
class PomProperties:
    group_id: str
    artifact_id: str
    version: str
    path: str


@dataclass
class _Found:
    name: str
    version: str
    virtual_path: str
    type: PackageType = PackageType.JAVA_ARCHIVE
    manifest: Manifest | None = None
    pom: PomProperties | None = None
    licenses: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)


def parse_manifest(text: str) -> Manifest | None:
    """Sections of ``Key: value`` lines, continuation lines starting with a space (the JAR spec)."""
    sections: list[dict[str, str]] = [{}]
    current = 0
    last_key = ""
    for line in text.splitlines():
        if not line.strip():
            current += 1
            last_key = ""
            continue
        while current >= len(sections):
            sections.append({})
        if line[0] == " ":
            if not last_key:
                return None
            sections[current][last_key] += line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            return None
        last_key = key.strip()
        sections[current][last_key] = value.strip()
    return Manifest(sections[0], [s for s in sections[1:] if s])


def parse_pom_properties(text: str, path: str) -> PomProperties | None:
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if sep:
            values[key.strip()] = value.strip()
    props = PomProperties(
        values.get("groupId", ""), values.get("artifactId", ""), values.get("version", ""), path
    )
    return props if props.artifact_id and props.version else None


def name_and_version_from_filename(path: str) -> tuple[str, str]:
    """``commons-lang3-3.12.0.jar`` -> ("commons-lang3", "3.12.0"), the way syft splits file names."""
    base = path.rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    m = _NAME_AND_VERSION.search(stem)
    if m is None:
        return "", ""
    name, version = m.group("name") or "", m.group("version") or ""
    if not version and (m2 := _SECONDARY_VERSION.search(name)) and (version := m2.group("version") or ""):
        name = name[: len(name) - len(version) - 1]
    return name, version


def archive_type(filename: str) -> PackageType:
    """The type of an archive's own package, from its file name's extension."""
    return (
        PackageType.JENKINS_PLUGIN
        if filename.lower().endswith(_PLUGIN_SUFFIXES)
        else PackageType.JAVA_ARCHIVE
    )


def pom_type(props: PomProperties) -> PackageType:
    """The type a ``pom.properties`` indicates: a Jenkins plugin group, else a plain Java archive."""
    group = props.group_id
    if group.startswith(JENKINS_PLUGIN_GROUPS) or ".jenkins.plugin" in group:
        return PackageType.JENKINS_PLUGIN
    return PackageType.JAVA_ARCHIVE


def _clean_group(value: str) -> str:
    return value.split(";", 1)[0].split("#", 1)[0].strip()


def _manifest_group_id(manifest: Manifest) -> str:
    for fields in (_PRIMARY_GROUP_FIELDS, _SECONDARY_GROUP_FIELDS):
        candidates = sorted(
            _clean_group(v)
            for section in (manifest.main, *manifest.sections)
            for key in fields
            if (v := section.get(key, "")).startswith(_TOP_LEVEL_DOMAINS)
        )
        if candidates:
            return candidates[0]
    return ""


def group_id(found: _Found) -> str:
    if found.pom is not None:
        if found.pom.group_id:
            return _clean_group(found.pom.group_id)
        if "." in found.pom.artifact_id:
            return _clean_group(found.pom.artifact_id)
    if found.manifest is not None:
        return _manifest_group_id(found.manifest)
    return ""


def _key(found: _Found) -> tuple[str, str, str]:
    return (group_id(found), found.name, found.version)


def _same_package(aux: _Found, parent: _Found) -> bool:
    if _key(aux) == _key(parent) or aux.virtual_path == parent.virtual_path:
        return True
    return aux.pom is not None and parent.name == aux.pom.artifact_id


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, budget: _Budget) -> bytes:
    with archive.open(member) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise _TooBig(f"{member.filename} inflates beyond {limit} bytes")
    budget.spend(inflated=len(data))
    return data


def _catalog_archive(
    content: bytes, access_path: str, filename: str, depth: int, budget: _Budget
) -> list[_Found]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    members = archive.infolist()
    budget.spend(entries=len(members))
    manifests = [m for m in members if m.filename.lstrip("/") == _MANIFEST]
    pom_members = [m for m in members if m.filename.endswith("pom.properties") and not m.is_dir()]

    poms: list[PomProperties] = []
    for member in pom_members:
        text = _read_member(archive, member, MAX_SMALL_FILE, budget).decode("utf-8", errors="replace")
        if props := parse_pom_properties(text, member.filename):
            poms.append(props)

    file_name, file_version = name_and_version_from_filename(filename)
    parent: _Found | None = None
    if len(manifests) == 1:
        raw = _read_member(archive, manifests[0], MAX_SMALL_FILE, budget).decode("utf-8", errors="replace")
        manifest = parse_manifest(raw)
        if manifest is None:
            log.debug("%s: malformed MANIFEST.MF", access_path)
        else:
            name = version = ""
            if len(pom_members) == 1:
                for props in poms:
                    if file_name and props.artifact_id.startswith(file_name):
                        name, version = props.artifact_id, props.version
            name = name or file_name or next((v for k in _NAME_FIELDS if (v := manifest.main.get(k, ""))), "")
            version = (
                version or file_version or next((v for k in _VERSION_FIELDS if (v := manifest.get(k))), "")
            )
            licenses = tuple(lic.strip() for lic in manifest.get("Bundle-License").split(",") if lic.strip())
            parent = _Found(
                name, version, access_path, archive_type(filename), manifest=manifest, licenses=licenses
            )

    found: list[_Found] = []
    if parent is not None:
        for props in poms:
            parent_key = ":".join(_key(parent))
            own_key = f"{props.group_id}:{props.artifact_id}:{props.version}"
            suffix = "" if parent_key == own_key else f":{props.group_id}:{props.artifact_id}"
            aux = _Found(props.artifact_id, props.version, access_path + suffix, pom_type(props), pom=props)
            if _same_package(aux, parent):
                parent.name, parent.version, parent.type = aux.name, aux.version, aux.type
                if parent.pom is None:
                    parent.pom = props
            else:
                found.append(aux)

    if depth < budget.max_depth:
        for member in members:
            if member.is_dir() or not member.filename.lower().endswith(ARCHIVE_SUFFIXES):
                continue
            nested_path = f"{access_path}:{member.filename}"
            try:
                data = _read_member(archive, member, budget.max_inflated - budget.inflated, budget)
                found.extend(_catalog_archive(data, nested_path, member.filename, depth + 1, budget))
            except _TooBig:
                raise
            except Exception as exc:  # one broken nested archive does not spoil its siblings
                log.debug("%s: unreadable nested archive: %s", nested_path, exc)
    else:
        log.debug("%s: nested deeper than %d archives; not descending", access_path, budget.max_depth)
    return ([parent] if parent is not None else []) + found


def _package(found: _Found, info: FileInfo) -> Package | None:
    if not found.name:
        return None
    version = found.version or UNKNOWN_VERSION
    group = group_id(found) or found.name
    try:
        purl = PackageURL(type="maven", namespace=group, name=found.name, version=found.version or None)
    except ValueError:
        return None
    metadata = {"virtualPath": found.virtual_path}
    if found.pom is not None:
        metadata.update(
            {
                "pomGroupId": found.pom.group_id,
                "pomArtifactId": found.pom.artifact_id,
                "pomPath": found.pom.path,
            }
        )
    if found.manifest is not None:
        for key in ("Implementation-Title", "Implementation-Vendor", "Bundle-SymbolicName", "Main-Class"):
            if value := found.manifest.main.get(key):
                metadata[f"manifest:{key}"] = value
    return Package(
        name=found.name,
        version=version,
        type=found.type,
        purl=purl.to_string(),
        licenses=found.licenses,
        locations=(Location(info.path, info.layer),),
        layer=info.layer,
        metadata=tuple(sorted(metadata.items())),
    )


class JavaArchiveCataloger:
    """Java archives and the archives nested in them (fat jars, wars, ears, Jenkins plugins)."""

    name: ClassVar[str] = "java-archive"
    magic: ClassVar[tuple[bytes, ...]] = (b"PK\x03\x04",)
    max_size: ClassVar[int] = 512 * MiB

    def __init__(self, max_inflated: int = MAX_INFLATED, max_depth: int = MAX_DEPTH) -> None:
        self.max_inflated = max_inflated
        self.max_depth = max_depth

    def wants(self, info: FileInfo) -> bool:
        return info.path.lower().endswith(ARCHIVE_SUFFIXES)

    def catalog(self, info: FileInfo, content: bytes) -> Sequence[Package]:
        try:
            budget = _Budget(max_inflated=self.max_inflated, max_depth=self.max_depth)
            found = _catalog_archive(content, info.path, info.path, 0, budget)
        except _TooBig as exc:
            log.debug("%s: archive refused: %s", info.path, exc)
            return []
        except Exception as exc:  # zipfile and zlib raise many types on hostile archives
            log.debug("%s: unreadable Java archive: %s", info.path, exc)
            return []
        return [p for f in found if (p := _package(f, info)) is not None]

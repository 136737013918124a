"""Misconfigurations of a built image: its config and its final filesystem.

Each check has a stable id (``IS-IMG-NNN``), a severity, a title and a fix hint:

========== ======== =====================================================================
IS-IMG-001 HIGH     runs as root: ``User`` is ``root``, ``0``, ``0:0``, or a name with uid 0
IS-IMG-002 HIGH     no ``USER``: the container runs as root by default
IS-IMG-003 LOW      setuid/setgid file (one finding per file of the final filesystem)
IS-IMG-004 MEDIUM   world-writable regular file
IS-IMG-005 LOW      package manager cache left in the image (apt, apk, yum/dnf, pip, npm)
IS-IMG-006 MEDIUM   shell or package manager in a minimal image (LOW when minimal is inferred)
IS-IMG-007 MEDIUM   base image recorded without a pinned tag (``:latest`` or no tag, no digest)
IS-IMG-008 LOW      no ``HEALTHCHECK``
IS-IMG-009 MEDIUM   SSH port 22 exposed
IS-IMG-010 MEDIUM   world-writable directory without the sticky bit (``1777`` like /tmp is fine)
========== ======== =====================================================================

"Minimal image" (IS-IMG-006): the ``org.opencontainers.image.base.name`` label names a
``distroless`` or ``scratch`` base (declared, MEDIUM), or the image has no OS package database at
all (no dpkg status, apk installed db or rpm db: a ``FROM scratch`` style image, inferred, LOW).
A shell or package manager there is an attacker's toolbox nobody meant to ship.

File checks need :func:`config_route` among the routes of :func:`~imgsec.image.layers.read_layers`
(it records mode bits and ``etc/passwd``); existence checks use every layer's entry list, and
IS-IMG-010 every layer's directory entries (``LayerResult.dir_modes``), squashed by the same rules.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imgsec.errors import InvalidReferenceError
from imgsec.findings import Finding, FindingKind, Severity
from imgsec.image.layers import FinalView, LayerResult, squash
from imgsec.image.model import Image
from imgsec.reference import parse_reference
from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.model import Location

log = logging.getLogger(__name__)

ROUTE_NAME = "image-config"
_PATHS_ROUTE = "image-config-paths"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
MAX_LOCATIONS = 20
#: A hostile (or carelessly built) image must not turn into a million-row report.
MAX_FILE_FINDINGS = 200


@dataclass(frozen=True)
class MisconfigFinding(Finding):
    """A misconfiguration of the image; ``kind`` is always ``MISCONFIGURATION``.

    ``detail`` says what was seen (the offending value or file); ``fix`` says what to change.
    """

    detail: str = ""
    fix: str = ""
    path: str | None = None


@dataclass(frozen=True)
class Check:
    id: str
    severity: Severity
    title: str
    fix: str


CHECKS: dict[str, Check] = {
    c.id: c
    for c in (
        Check(
            "IS-IMG-001",
            Severity.HIGH,
            "Image runs as root",
            "Add a non-root user and 'USER <uid>' (a numeric uid, so Kubernetes runAsNonRoot can verify it).",
        ),
        Check(
            "IS-IMG-002",
            Severity.HIGH,
            "No USER set: the container runs as root",
            "Add 'USER <uid>' with a non-root numeric uid at the end of the Dockerfile.",
        ),
        Check(
            "IS-IMG-003",
            Severity.LOW,
            "setuid/setgid file",
            "Remove the file, or drop the bit in the Dockerfile: 'RUN chmod u-s,g-s <path>'.",
        ),
        Check(
            "IS-IMG-004",
            Severity.MEDIUM,
            "World-writable file",
            "Drop the bit: 'RUN chmod o-w <path>' (or COPY --chmod with a safe mode).",
        ),
        Check(
            "IS-IMG-005",
            Severity.LOW,
            "Package manager cache left in the image",
            "Clean the cache in the same RUN that installs (e.g. 'rm -rf /var/lib/apt/lists/*', "
            "'apk add --no-cache', 'pip install --no-cache-dir', 'npm cache clean --force').",
        ),
        Check(
            "IS-IMG-006",
            Severity.MEDIUM,
            "Shell or package manager in a minimal image",
            "Build in one stage and copy only the application into the minimal base (multi-stage build).",
        ),
        Check(
            "IS-IMG-007",
            Severity.MEDIUM,
            "Base image not pinned (latest or no tag)",
            "Pin the base image: 'FROM name:version@sha256:<digest>' (imgsec pin can do it).",
        ),
        Check(
            "IS-IMG-008",
            Severity.LOW,
            "No HEALTHCHECK",
            "Add a HEALTHCHECK, or rely on Kubernetes liveness/readiness probes and ignore this rule.",
        ),
        Check(
            "IS-IMG-009",
            Severity.MEDIUM,
            "SSH port 22 exposed",
            "Do not run sshd in containers; use 'kubectl exec' or an ephemeral debug container.",
        ),
        Check(
            "IS-IMG-010",
            Severity.MEDIUM,
            "World-writable directory without sticky bit",
            "Drop the bit: 'RUN chmod o-w <dir>' (give the app user ownership instead), or, for a shared "
            "scratch directory, add the sticky bit like /tmp: 'RUN chmod 1777 <dir>'.",
        ),
    )
}


# --- the route ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModeFact:
    """A file whose mode matters (setuid, setgid or world-writable)."""

    mode: int


@dataclass(frozen=True)
class PasswdFact:
    """The ``name -> uid`` map of ``etc/passwd``."""

    users: tuple[tuple[str, int], ...]


ImageFact = ModeFact | PasswdFact
_MODE_BITS = 0o6000 | 0o002


def _wants(info: FileInfo) -> bool:
    return bool(info.mode & _MODE_BITS) or info.path == "etc/passwd"


def parse_passwd(content: bytes) -> PasswdFact:
    """``name:x:uid:...`` lines; malformed lines are skipped."""
    users: list[tuple[str, int]] = []
    for raw in content.splitlines()[:100_000]:
        fields = raw.decode("utf-8", "replace").split(":")
        if len(fields) >= 3 and fields[0] and fields[2].isdigit():
            users.append((fields[0], int(fields[2])))
    return PasswdFact(tuple(users))


def _analyze(info: FileInfo, content: bytes) -> Sequence[ImageFact]:
    facts: list[ImageFact] = []
    if info.mode & _MODE_BITS:
        facts.append(ModeFact(info.mode))
    if info.path == "etc/passwd":
        facts.append(parse_passwd(content))
    return facts


@dataclass(frozen=True)
class _ConfigRoute:
    name: str = ROUTE_NAME
    magic: tuple[bytes, ...] = ()
    max_size: int = 256 * 1024 * 1024

    def wants(self, info: FileInfo) -> bool:
        return _wants(info)

    def analyze(self, info: FileInfo, content: bytes) -> Sequence[ImageFact]:
        return _analyze(info, content)


def config_route() -> _ConfigRoute:
    """The route that records setuid/setgid/world-writable files and ``etc/passwd`` per layer."""
    return _ConfigRoute()


# --- the checks -----------------------------------------------------------------------------------


def _finding(
    check_id: str,
    detail: str,
    *,
    path: str | None = None,
    layer: str | None = None,
    locations: tuple[Location, ...] = (),
    severity: Severity | None = None,
) -> MisconfigFinding:
    c = CHECKS[check_id]
    if path is not None and not locations:
        locations = (Location(path, layer),)
    return MisconfigFinding(
        id=c.id,
        kind=FindingKind.MISCONFIGURATION,
        severity=severity or c.severity,
        title=c.title,
        locations=locations,
        layer=layer,
        detail=detail,
        fix=c.fix,
        path=path,
    )


def _config(image: Image) -> dict[str, Any]:
    cfg = image.config.get("config")
    return cfg if isinstance(cfg, dict) else {}


def _final(layers: Sequence[LayerResult]) -> tuple[FinalView, dict[str, int]]:
    """The squashed view of our route, and every path left in the final filesystem -> layer index."""
    own = [
        LayerResult(
            layer=lr.layer,
            results={ROUTE_NAME: lr.results.get(ROUTE_NAME, {})},
            whiteouts=lr.whiteouts,
            opaque_dirs=lr.opaque_dirs,
            non_dirs=lr.non_dirs,
            symlinks=lr.symlinks,
        )
        for lr in layers
    ]
    return squash(own), final_paths(layers)


def _delete_hidden(state: dict[str, Any], lr: LayerResult) -> None:
    """Drop the paths of ``state`` that layer ``lr`` hides: a whiteout or a non-directory hides the
    path and everything below it, an opaque marker everything below its directory (prefix searches
    in a sorted list, so that a large image costs milliseconds)."""
    if not state or not (lr.whiteouts or lr.opaque_dirs or lr.non_dirs):
        return
    keys = sorted(state)
    doomed: set[str] = set()

    def under(prefix: str) -> None:
        i = bisect.bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            doomed.add(keys[i])
            i += 1

    for path in (*lr.whiteouts, *lr.non_dirs):
        if path in state:
            doomed.add(path)
        under(path + "/")
    for directory in lr.opaque_dirs:
        under(directory + "/" if directory else "")
    for path in doomed:
        del state[path]


def final_paths(layers: Sequence[LayerResult]) -> dict[str, int]:
    """Every non-directory path of the final filesystem -> index of the layer it comes from.

    The same rules as :func:`~imgsec.image.layers.squash`, see :func:`_delete_hidden`.
    """
    state: dict[str, int] = {}
    for index, lr in enumerate(layers):
        _delete_hidden(state, lr)
        for path in lr.non_dirs:
            state[path] = index
    return state


def final_dir_modes(layers: Sequence[LayerResult]) -> dict[str, tuple[int, int]]:
    """Every directory declared in the layers and left in the final filesystem -> (mode, layer index).

    A later layer's entry for the same directory replaces its mode; a whiteout or a non-directory
    at the directory (or above it) deletes it, an opaque marker deletes the directories below its
    own: the rules :func:`final_paths` applies to files.
    """
    state: dict[str, tuple[int, int]] = {}
    for index, lr in enumerate(layers):
        _delete_hidden(state, lr)
        for path, mode in lr.dir_modes.items():
            state[path] = (mode, index)
    return state


def _check_dirs(layers: Sequence[LayerResult]) -> list[MisconfigFinding]:
    """One finding per world-writable directory without the sticky bit, at most MAX_FILE_FINDINGS."""
    out: list[MisconfigFinding] = []
    count = 0
    for path, (mode, index) in sorted(final_dir_modes(layers).items()):
        if not mode & 0o002 or mode & 0o1000:
            continue
        count += 1
        if count <= MAX_FILE_FINDINGS:
            detail = f"directory /{path} is world-writable without the sticky bit (mode {mode:04o})"
            out.append(_finding("IS-IMG-010", detail, path=path, layer=layers[index].layer))
    if count > MAX_FILE_FINDINGS:
        log.warning("IS-IMG-010: %d directories, only the first %d are reported", count, MAX_FILE_FINDINGS)
    return out


def _users(view: FinalView) -> dict[str, int]:
    placed = view.results.get(ROUTE_NAME, {}).get("etc/passwd")
    if placed is None:
        return {}
    for fact in placed.results:
        if isinstance(fact, PasswdFact):
            return dict(fact.users)
    return {}


def _check_user(image: Image, users: dict[str, int]) -> list[MisconfigFinding]:
    raw = _config(image).get("User")
    user = raw.strip() if isinstance(raw, str) else ""
    if not user:
        return [_finding("IS-IMG-002", "config.User is empty; processes start as uid 0")]
    name = user.split(":", 1)[0]
    if name in ("root", "0"):
        return [_finding("IS-IMG-001", f"config.User is {user!r}")]
    if not name.isdigit() and users.get(name) == 0:
        return [_finding("IS-IMG-001", f"config.User is {user!r}, and etc/passwd gives {name!r} uid 0")]
    return []


_SHELLS = ("bin/sh", "bin/bash", "bin/ash", "bin/dash", "bin/zsh", "bin/ksh", "bin/busybox")
_PACKAGE_MANAGERS = (
    "usr/bin/apt",
    "usr/bin/apt-get",
    "usr/bin/dpkg",
    "sbin/apk",
    "usr/bin/rpm",
    "usr/bin/yum",
    "usr/bin/dnf",
    "usr/bin/microdnf",
    "usr/bin/zypper",
    "usr/bin/pip",
    "usr/bin/pip3",
    "usr/local/bin/pip",
    "usr/local/bin/pip3",
)
_PACKAGE_DBS = (
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/Packages.db",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
)


def _exists(view: FinalView, paths: dict[str, int], path: str) -> str | None:
    """The final path ``path`` resolves to (through symlinks, also ``bin -> usr/bin``), if present."""
    for candidate in (path, "usr/" + path) if not path.startswith("usr/") else (path,):
        resolved = view.resolve(candidate)
        if resolved in paths and resolved not in view.symlinks:
            return candidate
    return None


def _check_minimal(image: Image, view: FinalView, paths: dict[str, int]) -> list[MisconfigFinding]:
    labels = _config(image).get("Labels")
    base = labels.get(BASE_NAME_LABEL) if isinstance(labels, dict) else None
    declared = isinstance(base, str) and ("distroless" in base or "scratch" in base)
    has_db = any(p in paths for p in _PACKAGE_DBS) or any(
        p.startswith("var/lib/dpkg/status.d/") for p in paths
    )
    if not declared and has_db:
        return []
    why = f"the base image label names {base!r}" if declared else "the image has no OS package database"
    severity = None if declared else Severity.LOW
    out: list[MisconfigFinding] = []
    seen: set[str] = set()
    for tool in (*_SHELLS, *_PACKAGE_MANAGERS):
        found = _exists(view, paths, tool)
        if found is None:
            continue
        target = view.resolve(found)
        if target in seen:
            continue
        seen.add(target)
        out.append(
            _finding(
                "IS-IMG-006",
                f"/{found} is present although {why}",
                path=found,
                layer=None,
                severity=severity,
            )
        )
    return out


def _check_base_tag(image: Image) -> list[MisconfigFinding]:
    labels = _config(image).get("Labels")
    base = labels.get(BASE_NAME_LABEL) if isinstance(labels, dict) else None
    if not isinstance(base, str) or not base or base == "scratch":
        return []
    try:
        ref = parse_reference(base, default_tag=False)
    except InvalidReferenceError:
        log.debug("label %s is not an image reference; base tag check skipped", BASE_NAME_LABEL)
        return []
    if ref.digest is None and ref.tag in (None, "latest"):
        return [_finding("IS-IMG-007", f"{BASE_NAME_LABEL} is {base!r}")]
    return []


def _check_healthcheck(image: Image) -> list[MisconfigFinding]:
    hc = _config(image).get("Healthcheck")
    test = hc.get("Test") if isinstance(hc, dict) else None
    if isinstance(test, list) and test and test != ["NONE"]:
        return []
    return [_finding("IS-IMG-008", "config.Healthcheck is not set")]


def _check_ports(image: Image) -> list[MisconfigFinding]:
    ports = _config(image).get("ExposedPorts")
    if isinstance(ports, dict) and any(p in ("22", "22/tcp") for p in ports):
        return [_finding("IS-IMG-009", "config.ExposedPorts has 22/tcp")]
    return []


_CACHES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # (name, path prefix, required suffixes or () for any file)
    ("apt archives", "var/cache/apt/archives/", (".deb",)),
    (
        "apt package lists",
        "var/lib/apt/lists/",
        ("_Packages", "_Release", "_InRelease", ".lz4", ".gz", ".xz"),
    ),
    ("apk cache", "var/cache/apk/", ()),
    ("yum cache", "var/cache/yum/", ()),
    ("dnf cache", "var/cache/dnf/", ()),
    ("pip cache", "root/.cache/pip/", ()),
    ("npm cache", "root/.npm/_cacache/", ()),
)


def _cache_prefixes(paths: dict[str, int]) -> list[tuple[str, str, tuple[str, ...]]]:
    """The fixed caches plus the same pip/npm caches under each home directory."""
    homes = {p.split("/", 2)[1] for p in paths if p.startswith("home/") and p.count("/") >= 2}
    extra = []
    for home in sorted(homes):
        extra.append(("pip cache", f"home/{home}/.cache/pip/", ()))
        extra.append(("npm cache", f"home/{home}/.npm/_cacache/", ()))
    return [*_CACHES, *extra]


def _check_caches(paths: dict[str, int]) -> list[MisconfigFinding]:
    out: list[MisconfigFinding] = []
    for name, prefix, suffixes in _cache_prefixes(paths):
        hits = sorted(p for p in paths if p.startswith(prefix) and (not suffixes or p.endswith(suffixes)))
        if not hits:
            continue
        locations = tuple(Location(p) for p in hits[:MAX_LOCATIONS])
        out.append(
            _finding(
                "IS-IMG-005",
                f"{name}: {len(hits)} file(s) under /{prefix}",
                path=prefix.rstrip("/"),
                locations=locations,
            )
        )
    return out


def _check_modes(view: FinalView, layers: Sequence[LayerResult]) -> list[MisconfigFinding]:
    """One finding per setuid/setgid or world-writable file, at most MAX_FILE_FINDINGS of each."""
    out: list[MisconfigFinding] = []
    counts = {"IS-IMG-003": 0, "IS-IMG-004": 0}
    for path, placed in sorted(view.results.get(ROUTE_NAME, {}).items()):
        layer = layers[placed.layer_index].layer if placed.layer_index < len(layers) else None
        for fact in placed.results:
            if not isinstance(fact, ModeFact):
                continue
            bits = [name for bit, name in ((0o4000, "setuid"), (0o2000, "setgid")) if fact.mode & bit]
            found = []
            if bits:
                found.append(("IS-IMG-003", f"/{path} is {'+'.join(bits)} (mode {fact.mode:04o})"))
            if fact.mode & 0o002:
                found.append(("IS-IMG-004", f"/{path} is world-writable (mode {fact.mode:04o})"))
            for check_id, detail in found:
                counts[check_id] += 1
                if counts[check_id] <= MAX_FILE_FINDINGS:
                    out.append(_finding(check_id, detail, path=path, layer=layer))
    for check_id, count in counts.items():
        if count > MAX_FILE_FINDINGS:
            log.warning("%s: %d files, only the first %d are reported", check_id, count, MAX_FILE_FINDINGS)
    return out


def check_image(image: Image, layers: Sequence[LayerResult]) -> list[MisconfigFinding]:
    """Every misconfiguration of ``image``; ``layers`` from a read that included :func:`config_route`."""
    os_name = image.config.get("os")
    view, paths = _final(layers)
    out: list[MisconfigFinding] = []
    if os_name in (None, "linux"):
        out.extend(_check_user(image, _users(view)))
    out.extend(_check_modes(view, layers))
    out.extend(_check_dirs(layers))
    out.extend(_check_caches(paths))
    out.extend(_check_minimal(image, view, paths))
    out.extend(_check_base_tag(image))
    out.extend(_check_healthcheck(image))
    out.extend(_check_ports(image))
    return out


__all__ = ["CHECKS", "MisconfigFinding", "check_image", "config_route", "final_dir_modes", "parse_passwd"]

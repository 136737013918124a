"""Pin image references in Dockerfiles and Kubernetes manifests to ``name:tag@sha256:...``.

Only the bytes of each image string change: Dockerfiles are parsed with BuildKit's parser
(:mod:`imgsec.lint.parse`) to find each ``FROM`` and the exact span of its image; YAML is *composed*
(never loaded and dumped) so every image scalar keeps its position, quoting and surrounding comments.

Statuses of a :class:`PinResult`:

``pinned``
    was a tag, now ``name:tag@digest`` (write mode).
``unpinned``
    has no digest (``check`` mode, nothing resolved).
``ok``
    already has a digest; when it also has a tag, the tag still points to that digest.
``drift``
    already has ``tag@digest`` but the tag now points elsewhere; the pin is kept.
``skipped``
    cannot be pinned safely (``ARG`` substitution, block scalar, escapes); a warning says why.

For multi-platform images the digest is the one the tag points to (the index), like ``docker pull``
prints, unless a platform is asked for.
"""

from __future__ import annotations

import codecs
import difflib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from imgsec.errors import ImgsecError, InputError
from imgsec.lint.parse import MAX_DOCKERFILE_BYTES, parse_dockerfile
from imgsec.reference import Reference, parse_reference

log = logging.getLogger(__name__)

MAX_YAML_BYTES = 8 * 1024 * 1024
MAX_LIST_DEPTH = 8

FileKind = Literal["dockerfile", "yaml"]
#: Resolves a reference (without digest) to the digest its tag points to.
Resolver = Callable[[Reference], str]

_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

#: A path from an object to image scalars: mapping keys, and ``[]`` for every item of a sequence.
_ImagePath = tuple[str, ...]
_POD_SPEC_IMAGES: tuple[_ImagePath, ...] = tuple((key, "[]", "image") for key in _CONTAINER_LISTS)


def _under(prefix: _ImagePath, tails: tuple[_ImagePath, ...]) -> tuple[_ImagePath, ...]:
    return tuple(prefix + tail for tail in tails)


_TEMPLATE_POD_IMAGES = _under(("spec", "template", "spec"), _POD_SPEC_IMAGES)
#: Argo Workflows template types that run a container (``container``, ``script``, ``containerSet``).
_ARGO_TEMPLATE_IMAGES: tuple[_ImagePath, ...] = (
    ("container", "image"),
    ("script", "image"),
    ("initContainers", "[]", "image"),
    ("sidecars", "[]", "image"),
    ("containerSet", "containers", "[]", "image"),
)
_ARGO_WORKFLOW_IMAGES = _under(("spec", "templates", "[]"), _ARGO_TEMPLATE_IMAGES)
_TEKTON_TASK_IMAGES: tuple[_ImagePath, ...] = (
    ("spec", "steps", "[]", "image"),
    ("spec", "sidecars", "[]", "image"),
    ("spec", "stepTemplate", "image"),
)
#: Custom resources with images at known paths, keyed by (API group, kind): the group is part of the
#: key because kinds collide (Knative ``Service`` has a pod template, the core ``Service`` has none).
_CRD_IMAGE_PATHS: dict[tuple[str, str], tuple[_ImagePath, ...]] = {
    ("argoproj.io", "Rollout"): _TEMPLATE_POD_IMAGES,
    ("serving.knative.dev", "Service"): _TEMPLATE_POD_IMAGES,
    ("serving.knative.dev", "Configuration"): _TEMPLATE_POD_IMAGES,
    ("argoproj.io", "Workflow"): _ARGO_WORKFLOW_IMAGES,
    ("argoproj.io", "WorkflowTemplate"): _ARGO_WORKFLOW_IMAGES,
    ("argoproj.io", "ClusterWorkflowTemplate"): _ARGO_WORKFLOW_IMAGES,
    ("argoproj.io", "CronWorkflow"): _under(
        ("spec", "workflowSpec", "templates", "[]"), _ARGO_TEMPLATE_IMAGES
    ),
    ("tekton.dev", "Task"): _TEKTON_TASK_IMAGES,
    ("tekton.dev", "ClusterTask"): _TEKTON_TASK_IMAGES,
    ("apps.openshift.io", "DeploymentConfig"): _TEMPLATE_POD_IMAGES,
    ("", "DeploymentConfig"): _TEMPLATE_POD_IMAGES,  # OpenShift 3 served it as apiVersion: v1
}
_DOCKERFILE_NAME_RE = re.compile(r"(^|[._-])(docker|container)file([._-]|$)", re.I)
_FROM_LINE_RE = re.compile(r"^\s*(FROM|ARG)\s", re.I)


class PinInputError(InputError):
    """A file that cannot be read or parsed as a Dockerfile or Kubernetes manifest."""


@dataclass(frozen=True)
class Site:
    """One image string: ``text[start:end] == image`` (quotes excluded), on 1-based ``line``."""

    line: int
    start: int
    end: int
    image: str


@dataclass(frozen=True)
class PinResult:
    file: str
    line: int
    old: str
    new: str | None
    status: str
    detail: str | None = None


@dataclass(frozen=True)
class FileOutcome:
    file: str
    original: str
    rewritten: str
    results: tuple[PinResult, ...]
    warnings: tuple[str, ...]
    bom: bool = False

    @property
    def changed(self) -> bool:
        return self.original != self.rewritten

    def encoded(self) -> bytes:
        data = self.rewritten.encode("utf-8")
        return codecs.BOM_UTF8 + data if self.bom else data

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.rewritten.splitlines(keepends=True),
                fromfile=f"a/{self.file}",
                tofile=f"b/{self.file}",
            )
        )


# --- reading --------------------------------------------------------------------------------------


def decode_input(data: bytes, kind: FileKind) -> tuple[str, bool]:
    """Text of ``data`` and whether it had a UTF-8 BOM; refuses oversized, binary or non-UTF-8 input."""
    cap = MAX_DOCKERFILE_BYTES if kind == "dockerfile" else MAX_YAML_BYTES
    if len(data) > cap:
        raise PinInputError(f"larger than {cap // (1024 * 1024)} MiB; refusing to pin it")
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise PinInputError(f"binary file (NUL byte at line {line}); not a {_kind_name(kind)}")
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        text = data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PinInputError(f"invalid UTF-8 at line {line}; save the file as UTF-8") from None
    return text, bom


def read_input(path: Path, kind: FileKind) -> tuple[str, bool]:
    cap = MAX_DOCKERFILE_BYTES if kind == "dockerfile" else MAX_YAML_BYTES
    try:
        with path.open("rb") as fh:
            data = fh.read(cap + 1)
    except IsADirectoryError:
        raise PinInputError("is a directory; pass Dockerfiles or manifest files") from None
    except FileNotFoundError:
        raise PinInputError("no such file") from None
    except OSError as exc:
        raise PinInputError(f"cannot read: {exc.strerror or exc}") from None
    return decode_input(data, kind)


def detect_kind(name: str, head: bytes) -> FileKind:
    """``dockerfile`` for ``Dockerfile``/``*.dockerfile``/``Containerfile`` names; YAML for ``.yaml``/``.yml``.

    Other names (and stdin) are sniffed: a first instruction line of ``FROM``/``ARG`` means a Dockerfile.
    """
    base = Path(name).name
    if base.lower().endswith((".yaml", ".yml", ".json")):
        return "yaml"
    if _DOCKERFILE_NAME_RE.search(base):
        return "dockerfile"
    for raw in head[:65536].decode("utf-8", "replace").lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        return "dockerfile" if _FROM_LINE_RE.match(line + " ") else "yaml"
    return "yaml"


def _kind_name(kind: FileKind) -> str:
    return "Dockerfile" if kind == "dockerfile" else "YAML manifest"


# --- walking directories ---------------------------------------------------------------------------

#: Never descended into while walking: VCS metadata, caches and vendored trees are not the user's.
_SKIP_DIR_NAMES = frozenset({"node_modules", "__pycache__", "venv"})
#: BuildKit's per-Dockerfile ignore files (``Dockerfile.dockerignore``) are no Dockerfiles.
_NOT_DOCKERFILE_SUFFIXES = (".dockerignore", ".containerignore", ".md", ".txt", ".rst")


@dataclass(frozen=True)
class DirectoryScan:
    """Pinnable files found under a directory (sorted), and the paths that could not be read."""

    files: tuple[tuple[Path, FileKind], ...]
    errors: tuple[tuple[Path, str], ...]
    has_subdirectories: bool


def real_path(path: Path) -> Path | None:
    """``path`` with every symlink resolved; ``None`` for a symlink loop."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: symlink loop before Python 3.13
        return None


def candidate_kind(name: str) -> FileKind | None:
    """Kind of a file met while walking a directory, from its name alone; ``None``: not pinnable.

    YAML and JSON manifests by extension (what ``kubectl apply -f DIR`` reads), and the Dockerfile
    names ``imgsec lint`` walks for (``Dockerfile``, ``Dockerfile.prod``, ``api.Dockerfile``,
    ``Containerfile``).
    """
    low = name.lower()
    if low.endswith((".yaml", ".yml", ".json")):
        return "yaml"
    if low.endswith(_NOT_DOCKERFILE_SUFFIXES):
        return None
    if (
        low in ("dockerfile", "containerfile")
        or low.startswith(("dockerfile.", "containerfile.", "dockerfile-", "containerfile-"))
        or low.endswith((".dockerfile", ".containerfile", "-dockerfile", "-containerfile"))
    ):
        return "dockerfile"
    return None


def scan_directory(root: Path, *, recursive: bool, kind: FileKind | None = None) -> DirectoryScan:
    """Dockerfiles and manifests in ``root`` (with ``recursive``, its subdirectories too), in sorted order.

    Like ``kubectl apply -f DIR [-R]``, with these guards: hidden entries (``.git``), ``node_modules``,
    ``venv`` and ``__pycache__`` are skipped; symlinked directories are never followed; a symlinked
    file is taken only when it resolves to a regular file inside ``root``, once per target; FIFOs,
    sockets and devices are ignored. With ``kind`` only files of that kind are taken.
    """
    top = real_path(root) or root.absolute()
    found: list[tuple[Path, FileKind, Path, bool]] = []
    errors: list[tuple[Path, str]] = []
    has_subdirectories = False
    # An explicit stack, visited in name order like Go's filepath.Walk: no recursion limit to hit.
    stack: list[tuple[Path, bool]] = [(root, True)]
    while stack:
        path, is_dir = stack.pop()
        if not is_dir:
            cand = candidate_kind(path.name)
            if cand is None or (kind is not None and cand != kind):
                continue
            target = real_path(path)
            if target is None:
                continue
            link = path.is_symlink()
            if link and (not target.is_relative_to(top) or not target.is_file()):
                log.debug("skipping %s: symlink to %s, outside %s or not a file", path, target, root)
                continue
            found.append((path, cand, target, link))
            continue
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            errors.append((path, f"cannot read directory: {exc.strerror or exc}"))
            continue
        children: list[tuple[Path, bool]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in _SKIP_DIR_NAMES:
                        continue
                    has_subdirectories = True
                    if recursive:
                        children.append((Path(entry.path), True))
                elif entry.is_file(follow_symlinks=False) or entry.is_symlink():
                    children.append((Path(entry.path), False))
            except OSError:
                continue
        stack.extend(reversed(children))
    # A file reached twice (a symlink to it) is pinned once, under its own name when it was walked.
    real_targets = {target for _, _, target, link in found if not link}
    files: list[tuple[Path, FileKind]] = []
    taken: set[Path] = set()
    for path, cand, target, link in found:
        if target in taken or (link and target in real_targets):
            continue
        taken.add(target)
        files.append((path, cand))
    return DirectoryScan(tuple(files), tuple(errors), has_subdirectories)


# --- finding image strings ------------------------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def find_dockerfile_sites(text: str, path: str = "Dockerfile") -> tuple[list[Site], list[PinResult]]:
    """Image sites of every ``FROM`` that names an image, and ``skipped`` results for the others."""
    df = parse_dockerfile(text, path)
    starts = _line_starts(text)
    sites: list[Site] = []
    skipped: list[PinResult] = []
    for stage in df.stages:
        instr = stage.from_instruction
        if stage.base_stage is not None or stage.is_scratch:
            continue
        if "$" in stage.base_text:
            skipped.append(
                PinResult(
                    path,
                    instr.start_line,
                    stage.base_text,
                    None,
                    "skipped",
                    "image comes from ARG substitution; pin the ARG default by hand",
                )
            )
            continue
        span = _locate_from_image(text, starts, instr.start_line, instr.end_line, stage.base_text)
        if span is None:
            skipped.append(
                PinResult(
                    path,
                    instr.start_line,
                    stage.base_text,
                    None,
                    "skipped",
                    "could not find the image text on the FROM line (split by an escape?)",
                )
            )
            continue
        line = text.count("\n", 0, span) + 1
        sites.append(Site(line, span, span + len(stage.base_text), stage.base_text))
    return sites, skipped


def _locate_from_image(text: str, starts: list[int], first: int, last: int, image: str) -> int | None:
    """Offset of ``image`` as a whole word after the ``FROM`` keyword, skipping comment lines."""
    word = re.compile(r"(?<!\S)" + re.escape(image) + r"(?![^\s\\])")
    for lineno in range(first, min(last, len(starts)) + 1):
        lo = starts[lineno - 1]
        hi = starts[lineno] if lineno < len(starts) else len(text)
        chunk = text[lo:hi]
        offset = 0
        if lineno == first:
            m = re.match(r"\s*FROM(?=\s)", chunk, re.I)
            if m is None:
                return None
            offset = m.end()
        elif chunk.lstrip().startswith("#"):
            continue
        for m in word.finditer(chunk, offset):
            if not chunk[m.start() :].startswith("--"):
                return lo + m.start()
    return None


def _mapping_get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    found: yaml.Node | None = None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            found = v  # last one wins, as in a YAML load
    return found


def _scalar_str(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) else None


def _follow(node: yaml.Node | None, path: _ImagePath) -> Iterator[yaml.Node]:
    if node is None:
        return
    if not path:
        yield node
        return
    step, rest = path[0], path[1:]
    if step == "[]":
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from _follow(item, rest)
    else:
        yield from _follow(_mapping_get(node, step), rest)


def _image_paths(root: yaml.Node, kind: str) -> tuple[_ImagePath, ...]:
    """Where the images of an object of ``kind`` are; core kinds match on kind alone, as before."""
    spec_path = _POD_SPEC_PATHS.get(kind)
    if spec_path is not None:
        return _under(spec_path, _POD_SPEC_IMAGES)
    api_version = _scalar_str(_mapping_get(root, "apiVersion")) or ""
    group = api_version.rpartition("/")[0]
    return _CRD_IMAGE_PATHS.get((group, kind), ())


def _image_nodes(root: yaml.Node, depth: int = 0) -> Iterator[yaml.ScalarNode | yaml.Node]:
    kind = _scalar_str(_mapping_get(root, "kind"))
    if kind is None:
        return
    if kind == "List" or kind.endswith("List"):
        items = _mapping_get(root, "items")
        if isinstance(items, yaml.SequenceNode) and depth < MAX_LIST_DEPTH:
            for item in items.value:
                yield from _image_nodes(item, depth + 1)
        return
    for path in _image_paths(root, kind):
        yield from _follow(root, path)


def find_yaml_sites(text: str, path: str = "manifest.yaml") -> tuple[list[Site], list[PinResult]]:
    """Image sites of every container image in the Kubernetes objects of a (multi-document) YAML file."""
    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    source = text
    if text.lstrip(" \t\r\n").startswith(("{", "[")):
        # JSON (kubectl takes it too) is often indented with tabs, which YAML only allows in flow
        # context and pure-Python PyYAML refuses. One character for one keeps every offset; a tab
        # inside a quoted image then no longer matches the source text, so that image is skipped.
        source = text.replace("\t", " ")
    try:
        roots = [r for r in yaml.compose_all(source, Loader=loader) if r is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PinInputError(f"not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise PinInputError(f"not valid YAML: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    except RecursionError:
        raise PinInputError("YAML nested too deeply; refusing") from None
    sites: list[Site] = []
    skipped: list[PinResult] = []
    seen: set[int] = set()
    for root in roots:
        for node in _image_nodes(root):
            line = node.start_mark.line + 1
            if not isinstance(node, yaml.ScalarNode) or not isinstance(node.value, str):
                skipped.append(PinResult(path, line, "", None, "skipped", "image is not a string"))
                continue
            if node.end_mark.index in seen:
                continue  # the same anchored scalar reached through an alias
            seen.add(node.end_mark.index)
            if "$" in node.value or "{{" in node.value:
                detail = "image comes from a parameter or template variable; pin its value where it is set"
                skipped.append(PinResult(path, line, node.value, None, "skipped", detail))
                continue
            site = _scalar_site(text, node)
            if isinstance(site, str):
                skipped.append(PinResult(path, line, node.value, None, "skipped", site))
            else:
                sites.append(site)
    sites.sort(key=lambda s: s.start)
    return sites, skipped


def _scalar_site(text: str, node: yaml.ScalarNode) -> Site | str:
    """The span of the bare value inside ``node``'s source text, or why it cannot be rewritten safely."""
    value: str = node.value
    end = node.end_mark.index
    style = node.style or ""
    if style in ("|", ">"):
        return "block scalar image; write it as a plain or quoted string to pin it"
    if not value or any(c.isspace() for c in value):
        return "image is empty or contains whitespace; not a reference"
    if style in ('"', "'"):
        raw_start = end - len(value) - 1
        if text[end - 1 : end] != style or text[raw_start - 1 : raw_start] != style:
            return "quoted image uses escapes; write it without escapes to pin it"
        if text[raw_start : end - 1] != value:
            return "quoted image uses escapes; write it without escapes to pin it"
        start = raw_start
        stop = end - 1
    else:
        start = end - len(value)
        stop = end
        if text[start:stop] != value:
            return "image spans several lines; write it on one line to pin it"
    return Site(text.count("\n", 0, start) + 1, start, stop, value)


# --- pinning --------------------------------------------------------------------------------------


def pinned_text(image: str, ref: Reference, digest: str) -> str:
    """``image`` as written, with ``:latest`` made explicit when it had no tag, plus ``@digest``."""
    base = image.split("@", 1)[0]
    if ref.tag is None:
        base += ":latest"
    return f"{base}@{digest}"


def pin_text(
    text: str,
    kind: FileKind,
    path: str,
    resolve: Resolver | None,
    *,
    check: bool = False,
    bom: bool = False,
) -> FileOutcome:
    """Find the image strings of ``text`` and pin them with ``resolve``.

    With ``check`` nothing is rewritten and unpinned images are reported as ``unpinned`` without a
    registry; ``tag@digest`` pins are verified whenever ``resolve`` is given (``None``: fully offline).
    Errors while resolving raise with the file and line.
    """
    if kind == "dockerfile":
        sites, skipped = find_dockerfile_sites(text, path)
    else:
        sites, skipped = find_yaml_sites(text, path)
    results: list[PinResult] = list(skipped)
    warnings = [f"{path}:{r.line}: {r.old or 'image'}: not pinned: {r.detail}" for r in skipped]
    pieces: list[str] = []
    pos = 0
    for site in sites:
        try:
            ref = parse_reference(site.image, default_tag=False)
        except InputError as exc:
            raise PinInputError(f"line {site.line}: {exc}") from None
        new: str | None = None
        if ref.digest is not None:
            if ref.tag is None or resolve is None:
                results.append(PinResult(path, site.line, site.image, site.image, "ok"))
                continue
            current = _resolve(resolve, ref.without_digest(), site)
            if current == ref.digest:
                results.append(PinResult(path, site.line, site.image, site.image, "ok"))
            else:
                detail = f"tag {ref.tag} now points to {current}; pin kept"
                results.append(PinResult(path, site.line, site.image, site.image, "drift", detail))
                warnings.append(f"{path}:{site.line}: {site.image}: {detail}")
            continue
        if check or resolve is None:
            results.append(PinResult(path, site.line, site.image, None, "unpinned"))
            continue
        new = pinned_text(site.image, ref, _resolve(resolve, ref, site))
        results.append(PinResult(path, site.line, site.image, new, "pinned"))
        pieces.append(text[pos : site.start])
        pieces.append(new)
        pos = site.end
    pieces.append(text[pos:])
    results.sort(key=lambda r: r.line)
    return FileOutcome(path, text, "".join(pieces), tuple(results), tuple(warnings), bom)


def _resolve(resolve: Resolver, ref: Reference, site: Site) -> str:
    try:
        return resolve(ref)
    except ImgsecError as exc:
        exc.args = (f"line {site.line}: {site.image}: {exc}",)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` (the file a symlink points to) with ``data``: same mode, never a partial file."""
    target = path.resolve()
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError as exc:
        raise PinInputError(f"cannot stat: {exc.strerror or exc}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".imgsec-pin", dir=target.parent)
    except OSError as exc:
        raise PinInputError(f"cannot write next to it: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

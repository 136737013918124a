"""Hostile layers, generated: damaged tar headers and damaged compressed streams.

Whatever the bytes, reading a layer ends in one of two ways: results, or an
:class:`~imgsec.errors.ImgsecError` (a clear one-line error for the CLI) -- never another exception,
never a hang, never a file written.  Both readers (in-process, and the decompression helper process)
must agree on which.  Digests are computed over the damaged bytes, so the damage reaches the tar
reader and the decompressors instead of being stopped by the digest check.

``IMGSEC_FUZZ_EXAMPLES=1000`` runs more examples than the suite's default (120 per test).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgsec.errors import ImgsecError
from imgsec.image import inflate
from imgsec.image.layers import FunctionRoute, read_layers
from imgsec.image.sources import open_image
from tests.unit.ocihelp import Entry, make_tar, write_layout


def _gnu_members() -> bytes:
    """A long file name and a long link target the GNU way (``L``/``K`` records), no archive end."""
    info = tarfile.TarInfo("usr/share/" + "long-" * 30 + "name.txt")
    info.size = 11
    link = tarfile.TarInfo("l" * 120)
    link.type = tarfile.SYMTYPE
    link.linkname = "t" * 130
    data = b"hello world"
    padding = bytes(-len(data) % 512)
    return info.tobuf(tarfile.GNU_FORMAT) + data + padding + link.tobuf(tarfile.GNU_FORMAT)


BASE = _gnu_members() + make_tar(
    [
        Entry("etc/", kind="dir", mode=0o755),
        Entry("etc/os-release", b"ID=debian\nVERSION_ID=12\n"),
        Entry("var/lib/dpkg/status", b"Package: a\nStatus: install ok installed\nVersion: 1\n\n"),
        Entry("etc/.wh.gone"),
        Entry("opt/.wh..wh..opq"),
        Entry("bin/sh", b"\x7fELF" + bytes(60)),
        Entry("bin/link", kind="hardlink", link="bin/sh"),
        Entry("etc/motd", kind="symlink", link="../run/motd"),
        Entry("p" * 90 + "/" + "q" * 90, b"pax path"),
    ]
)


def _keep(info: Any, content: bytes) -> list[bytes]:
    return [content]


ROUTE = FunctionRoute(name="all", wants_fn=lambda info: True, analyze_fn=_keep)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layout(root: Path, blob: bytes, media_type: str, diff_id: str) -> str:
    """An OCI layout whose one layer is ``blob``, with digests that match it."""
    write_layout(root, [], precompressed=[(blob, media_type, diff_id)])
    return f"oci:{root}:t"


def _outcome(spec: str, helper: bool, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(inflate, "HELPER_MIN_SIZE", 0 if helper else 1 << 40)
    try:
        layers = read_layers(open_image(spec), [ROUTE])
    except ImgsecError:
        return "refused"
    return [(r.results, r.whiteouts, r.opaque_dirs, r.non_dirs, r.symlinks) for r in layers]


_damage = st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), min_size=1, max_size=6)


def _apply(data: bytes, damage: list[tuple[int, int]], header_bias: bool) -> bytes:
    out = bytearray(data)
    for where, value in damage:
        # Most damage in the first bytes of a 512-byte block (names, sizes, checksums, types).
        at = (where // 512 * 512 + where % 160) if header_bias else where
        out[at % len(out)] = value
    return bytes(out)


@settings(
    max_examples=int(os.environ.get("IMGSEC_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(damage=_damage, cut=st.one_of(st.none(), st.integers(0, len(BASE))))
def test_damaged_tar_headers_are_read_or_refused_alike(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    damage: list[tuple[int, int]],
    cut: int | None,
) -> None:
    tar = _apply(BASE, damage, header_bias=True)[:cut]
    blob = gzip.compress(tar, mtime=0)
    root = tmp_path_factory.mktemp("fuzz")
    spec = _layout(root / "img", blob, "application/vnd.oci.image.layer.v1.tar+gzip", _sha(tar))
    before = sorted(p.name for p in root.iterdir())
    assert _outcome(spec, False, monkeypatch) == _outcome(spec, True, monkeypatch)
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written next to the image


@settings(
    max_examples=int(os.environ.get("IMGSEC_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(damage=_damage, zstd=st.booleans(), cut=st.one_of(st.none(), st.integers(1, 400)))
def test_damaged_compressed_streams_are_read_or_refused_alike(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    damage: list[tuple[int, int]],
    zstd: bool,
    cut: int | None,
) -> None:
    packed = zstandard.ZstdCompressor().compress(BASE) if zstd else gzip.compress(BASE, mtime=0)
    blob = _apply(packed, damage, header_bias=False)[: None if cut is None else len(packed) - cut]
    media = "application/vnd.oci.image.layer.v1.tar+" + ("zstd" if zstd else "gzip")
    root = tmp_path_factory.mktemp("fuzz")
    spec = _layout(root / "img", blob, media, _sha(BASE))
    assert _outcome(spec, False, monkeypatch) == _outcome(spec, True, monkeypatch)


def test_the_undamaged_layer_is_read_by_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The generator's base case is a real, readable layer, else the fuzzing above proves little.
    spec = _layout(
        tmp_path / "img",
        gzip.compress(BASE, mtime=0),
        "application/vnd.oci.image.layer.v1.tar+gzip",
        _sha(BASE),
    )
    for helper in (False, True):
        outcome = _outcome(spec, helper, monkeypatch)
        assert outcome != "refused"
        assert isinstance(outcome, list)
        results, whiteouts, opaque, _non_dirs, symlinks = outcome[0]
        assert results["all"]["var/lib/dpkg/status"][0].startswith(b"Package: a")
        assert results["all"]["bin/link"] == results["all"]["bin/sh"]
        assert results["all"]["p" * 90 + "/" + "q" * 90] == [b"pax path"]
        assert results["all"]["usr/share/" + "long-" * 30 + "name.txt"] == [b"hello world"]
        assert whiteouts == {"etc/gone"} and opaque == {"opt"}
        assert symlinks["etc/motd"] == "../run/motd" and symlinks["l" * 120] == "t" * 130

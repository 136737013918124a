"""Layer streaming: whiteouts, opaque dirs, links, compression, digests and hostile entries."""

from __future__ import annotations

import gzip
import io
from collections.abc import Sequence
from pathlib import Path

import pytest

from imgsec.errors import DigestMismatchError, InputError, UnsafeContentError
from imgsec.image import inflate
from imgsec.image.layers import FunctionRoute, LayerResult, read_layers, squash
from imgsec.image.sources import open_image
from imgsec.sbom.catalogers.base import FileInfo
from tests.unit.ocihelp import Entry, make_tar, sha, write_layout


@pytest.fixture(autouse=True, params=["in-process", "helper-process"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs twice: big local blobs go to a decompression helper process, so small
    test layers are sent there too (threshold 0) to prove both readers behave the same."""
    if request.param == "helper-process":
        monkeypatch.setattr(inflate, "HELPER_MIN_SIZE", 0)
    return str(request.param)


def _keep(info: FileInfo, content: bytes) -> Sequence[bytes]:
    return [content]


KEEP_ALL = FunctionRoute(name="all", wants_fn=lambda info: True, analyze_fn=_keep)


def final_files(layout: Path) -> dict[str, bytes]:
    image = open_image(f"oci:{layout}:t")
    view = squash(read_layers(image, [KEEP_ALL]))
    return {path: placed.results[0] for path, placed in view.results["all"].items()}


LAYERS = [
    make_tar(
        [
            Entry("etc/", kind="dir"),
            Entry("etc/keep", b"base"),
            Entry("etc/replace", b"old"),
            Entry("etc/delete-me", b"gone"),
            Entry("opaque/", kind="dir"),
            Entry("opaque/lower", b"hidden by opaque"),
            Entry("was-dir/", kind="dir"),
            Entry("was-dir/inner", b"hidden when the dir becomes a file"),
            Entry("del-dir/", kind="dir"),
            Entry("del-dir/a/b", b"deep"),
            Entry("usr/lib/os-release", b"ID=debian\n"),
            Entry("etc/os-release", kind="symlink", link="../usr/lib/os-release"),
        ]
    ),
    make_tar(
        [
            Entry("etc/replace", b"new"),
            Entry("etc/.wh.delete-me"),
            Entry("opaque/.wh..wh..opq"),
            Entry("opaque/upper", b"same-layer file survives the opaque marker"),
            Entry("was-dir", b"now a file"),
            Entry("del-dir/.wh.a"),
            Entry("hard/orig", b"linked content"),
            Entry("hard/link", kind="hardlink", link="hard/orig"),
        ]
    ),
]

EXPECTED = {
    "etc/keep": b"base",
    "etc/replace": b"new",
    "opaque/upper": b"same-layer file survives the opaque marker",
    "was-dir": b"now a file",
    "usr/lib/os-release": b"ID=debian\n",
    "hard/orig": b"linked content",
    "hard/link": b"linked content",
}


@pytest.mark.parametrize("how", ["gzip", "zstd", "plain", "gzip-2-members", "zstd-2-frames", "gzip+zeros"])
def test_whiteouts_opaque_dirs_and_links(tmp_path: Path, how: str) -> None:
    write_layout(tmp_path / "img", LAYERS, how=how)
    assert final_files(tmp_path / "img") == EXPECTED


def test_symlinks_resolve_in_final_view(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", LAYERS)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    view = squash(read_layers(image, [KEEP_ALL]))
    assert view.resolve("etc/os-release") == "usr/lib/os-release"
    loop = squash([_result_with_links({"a": "b", "b": "a"})])
    assert loop.resolve("a") in ("a", "b")  # a loop ends, it does not hang


def _result_with_links(links: dict[str, str]) -> LayerResult:
    return LayerResult(layer=None, symlinks=links)


def test_layer_that_introduced_each_file_is_kept(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", LAYERS)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    view = squash(read_layers(image, [KEEP_ALL]))
    assert view.results["all"]["etc/keep"].layer_index == 0
    assert view.results["all"]["etc/replace"].layer_index == 1


def test_compressed_digest_is_verified(tmp_path: Path) -> None:
    manifest = write_layout(tmp_path / "img", [make_tar([Entry("f", b"x")])])
    blob_digest = manifest["layers"][0]["digest"]  # type: ignore[index]
    blob = tmp_path / "img" / "blobs" / "sha256" / blob_digest.split(":")[1]
    tampered = gzip.compress(make_tar([Entry("f", b"y")]), mtime=0)
    blob.write_bytes(tampered)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(DigestMismatchError):
        read_layers(image, [KEEP_ALL])


def test_diff_id_is_verified(tmp_path: Path) -> None:
    tar = make_tar([Entry("f", b"x")])
    write_layout(tmp_path / "img", [tar], diff_ids=[sha(b"something else")])
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(DigestMismatchError, match="diff_id"):
        read_layers(image, [KEEP_ALL])


def test_truncated_gzip_is_a_clear_input_error(tmp_path: Path) -> None:
    tar = make_tar([Entry("f", b"x" * 100_000)])
    manifest = write_layout(tmp_path / "img", [tar])
    desc = manifest["layers"][0]  # type: ignore[index]
    blob = tmp_path / "img" / "blobs" / "sha256" / desc["digest"].split(":")[1]
    data = blob.read_bytes()[:-200]
    # Keep the descriptor consistent with the truncated blob so only the gzip stream is at fault.
    manifest2 = write_layout(tmp_path / "img2", [tar])
    blob2 = tmp_path / "img2" / "blobs" / "sha256" / manifest2["layers"][0]["digest"].split(":")[1]  # type: ignore[index]
    blob2.write_bytes(data)
    image = open_image(f"oci:{tmp_path / 'img2'}:t")
    with pytest.raises(InputError):
        read_layers(image, [KEEP_ALL])


def test_data_after_the_last_gzip_member_is_an_input_error(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", [make_tar([Entry("f", b"x" * 1000)])], how="gzip+garbage")
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(InputError, match="corrupt or truncated"):
        read_layers(image, [KEEP_ALL])


BOMB_SCRIPT = """
import resource, sys
from imgsec.image import inflate
from imgsec.image.layers import FunctionRoute, read_layers
from imgsec.image.sources import open_image
inflate.HELPER_MIN_SIZE = int(sys.argv[2])
route = FunctionRoute(name="after", wants_fn=lambda i: i.path == "after", analyze_fn=lambda i, c: [c])
results = read_layers(open_image(sys.argv[1]), [route])
assert results[0].results["after"] == {"after": [b"still read"]}, results[0].results
# VmHWM: the peak of this process image only (ru_maxrss would include the parent it was forked from)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_a_gzip_bomb_streams_in_bounded_memory(tmp_path: Path, reader: str) -> None:
    import hashlib
    import subprocess
    import sys
    import tarfile

    # 256 MiB of zeros in one file compress to ~256 KiB; the reader must stream them, never hold them.
    zeros = tarfile.TarInfo("zeros")
    zeros.size = 256 << 20
    chunk = bytes(1 << 20)
    raw = io.BytesIO()
    diff = hashlib.sha256()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=1) as gz:
        for part in (
            zeros.tobuf(tarfile.PAX_FORMAT),
            *(chunk for _ in range(256)),
            make_tar([Entry("after", b"still read")]),
        ):
            gz.write(part)
            diff.update(part)
    write_layout(
        tmp_path / "img",
        [],
        precompressed=[
            (raw.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + diff.hexdigest())
        ],
    )
    threshold = "0" if reader == "helper-process" else str(1 << 40)
    proc = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, f"oci:{tmp_path / 'img'}:t", threshold],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    own_kib, helper_kib = (int(v) for v in proc.stdout.split())
    assert own_kib < 150 * 1024
    assert helper_kib < 150 * 1024


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (Entry("../../etc/passwd", b"root::0:0"), "escapes the image root"),
        (Entry("a/../../b", b"x"), "escapes the image root"),
        (Entry("/etc/shadow", b"x"), "absolute path"),
        (Entry("ok/../../../hardlink", kind="hardlink", link="x"), "escapes"),
    ],
)
def test_hostile_paths_are_refused(
    tmp_path: Path, entry: Entry, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_layout(tmp_path / "img", [make_tar([Entry("fine", b"1"), entry])])
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(UnsafeContentError, match=message):
        read_layers(image, [KEEP_ALL])
    assert list(work.iterdir()) == []  # nothing was written anywhere
    assert not (tmp_path / "etc").exists()


def test_hardlink_escape_target_is_refused(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", [make_tar([Entry("l", kind="hardlink", link="../../etc/passwd")])])
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(UnsafeContentError):
        read_layers(image, [KEEP_ALL])


def test_devices_fifos_and_dangling_hardlinks_are_skipped(tmp_path: Path) -> None:
    tar = make_tar(
        [
            Entry("dev/null", kind="chardev"),
            Entry("run/fifo", kind="fifo"),
            Entry("dangling", kind="hardlink", link="not/in/layer"),
            Entry("real", b"ok"),
        ]
    )
    write_layout(tmp_path / "img", [tar])
    assert final_files(tmp_path / "img") == {"real": b"ok"}


def test_size_claims_beyond_the_data_are_truncation(tmp_path: Path) -> None:
    tar = bytearray(make_tar([Entry("big", b"x" * 10)]))
    # Rewrite the ustar size field (octal, offset 124 of the member header) to claim 8 GiB.
    header_offset = 512 if tar[156:157] == b"x" else 0  # skip a PAX header if present
    for off in range(0, len(tar), 512):
        if tar[off + 257 : off + 262] == b"ustar" and tar[off : off + 3] == b"big":
            header_offset = off
            break
    size_field = f"{8 * 2**30 - 1:011o}".encode() + b"\x00"
    tar[header_offset + 124 : header_offset + 136] = size_field
    chk = (
        sum(tar[header_offset : header_offset + 148])
        + 8 * 32
        + sum(tar[header_offset + 156 : header_offset + 512])
    )
    tar[header_offset + 148 : header_offset + 156] = f"{chk:06o}".encode() + b"\x00 "
    write_layout(tmp_path / "img", [bytes(tar)])
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(InputError):
        read_layers(image, [KEEP_ALL])


def test_unknown_layer_media_type_is_refused(tmp_path: Path) -> None:
    import json

    manifest = write_layout(tmp_path / "img", [make_tar([Entry("f", b"x")])])
    manifest["layers"][0]["mediaType"] = "application/x-evil"  # type: ignore[index]
    data = json.dumps(manifest).encode()
    from tests.unit.ocihelp import write_blob

    digest = write_blob(tmp_path / "img", data)
    index = json.loads((tmp_path / "img" / "index.json").read_text())
    index["manifests"][0].update(digest=digest, size=len(data))
    (tmp_path / "img" / "index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="unsupported media type"):
        open_image(f"oci:{tmp_path / 'img'}:t")


@pytest.mark.parametrize("fmt", ["pax", "gnu"])
def test_long_names_in_pax_and_gnu_headers(tmp_path: Path, fmt: str) -> None:
    import io
    import tarfile

    long = "deep/" + "d" * 120 + "/" + "n" * 150 + ".txt"
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT if fmt == "pax" else tarfile.GNU_FORMAT
    ) as tf:
        ti = tarfile.TarInfo(long)
        ti.size = 5
        tf.addfile(ti, io.BytesIO(b"hello"))
        link = tarfile.TarInfo("l" * 130)
        link.type = tarfile.SYMTYPE
        link.linkname = "t" * 140
        tf.addfile(link)
    write_layout(tmp_path / "img", [buf.getvalue()])
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    results = read_layers(image, [KEEP_ALL])
    assert results[0].results["all"] == {long: [b"hello"]}
    assert results[0].symlinks == {"l" * 130: "t" * 140}


def test_corrupt_header_checksum_is_an_input_error(tmp_path: Path) -> None:
    tar = bytearray(make_tar([Entry("a", b"1"), Entry("b", b"2")]))
    tar[0] ^= 0x01  # flip a bit of the first header's name: its checksum no longer matches
    write_layout(tmp_path / "img", [bytes(tar)])
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(InputError, match="checksum"):
        read_layers(image, [KEEP_ALL])


def test_read_everything_at_once_still_checks_the_digest() -> None:
    import io

    from imgsec.image.model import VerifyingReader

    good = VerifyingReader(io.BytesIO(b"abc"), sha(b"abc"), "blob")
    assert good.read() == b"abc"
    bad = VerifyingReader(io.BytesIO(b"abd"), sha(b"abc"), "blob")
    with pytest.raises(DigestMismatchError):
        bad.read()
    short = VerifyingReader(io.BytesIO(b"ab"), sha(b"ab"), "blob", size=3)
    with pytest.raises(DigestMismatchError, match="truncated"):
        short.read(-1)


def _children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        text = (task / "children").read_text()
        pids.update(int(p) for p in text.split())
    return pids


def test_progress_counts_every_compressed_byte(tmp_path: Path) -> None:
    write_layout(tmp_path / "img", LAYERS)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    seen: list[int] = []
    read_layers(image, [KEEP_ALL], on_bytes=seen.append)
    assert sum(seen) == sum(layer.descriptor.size for layer in image.layers)


def test_a_failing_read_leaves_no_process_or_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    import os

    # A hostile entry early in a big layer: the reader stops long before the end of the stream.
    filler = [Entry(f"f{i}", os.urandom(64 * 1024)) for i in range(64)]
    write_layout(tmp_path / "img", [make_tar([Entry("/etc/shadow", b"x"), *filler])])
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _children()
    fds_before = len(os.listdir("/proc/self/fd"))
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    with pytest.raises(UnsafeContentError, match="absolute path"):
        read_layers(image, [KEEP_ALL])
    assert _children() == before
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert list(work.iterdir()) == []


def test_helper_reports_the_same_results_as_the_in_process_reader(tmp_path: Path) -> None:
    import os

    files = [Entry(f"d/f{i}", os.urandom(i * 997 % 50_000)) for i in range(300)]
    files.append(Entry("d/link", kind="hardlink", link="d/f7"))
    write_layout(tmp_path / "img", [make_tar(files)], how="zstd")
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    layer = image.layers[0]
    from functools import partial

    from imgsec.image.layers import walk_layer

    runs = [
        walk_layer(
            partial(image.open_blob, layer.descriptor),
            [KEEP_ALL],
            layer=layer.diff_id,
            what="t",
            helper_min_size=m,
        )
        for m in (0, 1 << 40)
    ]
    assert runs[0].results == runs[1].results
    assert runs[0].results["all"]["d/link"] == [files[7].data]


FALLBACK_SCRIPT = """
import sys
from imgsec.image import inflate
from imgsec.image.layers import FunctionRoute, read_layers
from imgsec.image.sources import open_image
inflate.HELPER_MIN_SIZE = 0
sys.executable = sys.argv[2]  # an interpreter that cannot be started
route = FunctionRoute(name="all", wants_fn=lambda i: True, analyze_fn=lambda i, c: [c])
results = read_layers(open_image(sys.argv[1]), [route])
print(sorted(p for r in results for p in r.results["all"]))
"""


def test_when_no_helper_can_start_layers_are_read_in_process(tmp_path: Path, reader: str) -> None:
    import subprocess
    import sys

    write_layout(tmp_path / "img", LAYERS)
    proc = subprocess.run(
        [sys.executable, "-c", FALLBACK_SCRIPT, f"oci:{tmp_path / 'img'}:t", str(tmp_path / "no-python")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "etc/keep" in proc.stdout and "hard/link" in proc.stdout


def test_prestarted_helpers_are_used_or_closed(tmp_path: Path, reader: str) -> None:
    from imgsec.image.cache import LayerCache
    from imgsec.image.layers import prestart

    write_layout(tmp_path / "img", LAYERS)
    image = open_image(f"oci:{tmp_path / 'img'}:t")
    cache = LayerCache(tmp_path / "cache")
    before = _children()
    started = prestart(image, cache)
    assert list(started) == [0]  # the first layer not in the cache
    assert (started[0] is not None) is (reader == "helper-process")
    cold = read_layers(image, [KEEP_ALL], cache=cache, started=started)
    assert prestart(image, cache) == {}  # every layer is cached now
    # A helper started for a layer that turns out to be cached is closed, not left running.
    stale = prestart(image, LayerCache(tmp_path / "empty"))
    assert list(stale) == [0]
    warm = read_layers(image, [KEEP_ALL], cache=cache, started=stale)
    assert [r.results for r in warm] == [r.results for r in cold]
    assert _children() == before

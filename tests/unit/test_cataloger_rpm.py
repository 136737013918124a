"""rpm cataloger over the three rpmdb formats, with ``rpm -qa`` and syft as oracles.

- ``rpmdb.sqlite``: written by rpm 4.18 itself (``rpm -i --justdb``) from packages rpmbuild made.
- ``Packages-*``: the same header blobs in Berkeley DB hash files written by libdb's ``db_load``;
  the generator checks that rpm's own ``bdb_ro`` backend lists them identically.
- ``Packages.db`` (ndb): Debian's rpm is built without ndb, so the container is written here from
  rpm's ``lib/backend/ndb/rpmpkg.c`` (``rpmpkgWriteBlob``/``rpmpkgWriteslot``) around the real blobs.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.rpm import RpmCataloger, split_source_rpm
from imgsec.sbom.catalogers.rpmdb_header import HeaderError, parse_header_blob
from imgsec.sbom.distro import DistroDetector, qualify_purls
from imgsec.sbom.model import Package, PackageType

DATA = Path(__file__).parent / "data" / "os" / "rpm"
LAYER = "sha256:" + "ef" * 32


def load(name: str) -> bytes:
    return gzip.decompress((DATA / name).read_bytes())


@pytest.fixture(scope="module")
def sqlite_db() -> bytes:
    return load("rpmdb.sqlite.gz")


@pytest.fixture(scope="module")
def blobs(sqlite_db: bytes) -> list[bytes]:
    conn = sqlite3.connect(":memory:")
    image = bytearray(sqlite_db)
    image[18] = image[19] = 1  # test-side read of rpm's WAL-mode file
    conn.deserialize(bytes(image))
    return [row[0] for row in conn.execute("SELECT blob FROM Packages ORDER BY hnum")]


def catalog(content: bytes, path: str = "var/lib/rpm/rpmdb.sqlite") -> list[Package]:
    return list(RpmCataloger().catalog(FileInfo(path, 0o644, len(content), LAYER), content))


def rpm_qa() -> set[tuple[str, str, str, str, str, str, str]]:
    """``rpm -qa --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM} %{LICENSE}'``."""
    rows = set()
    for line in (DATA / "rpm-qa.txt").read_text().splitlines():
        name, epoch, version, release, arch, srpm, license_ = line.split(" ", 6)
        rows.add((name, epoch, version, release, arch, srpm, license_))
    return rows


def as_rpm_qa(packages: list[Package]) -> set[tuple[str, str, str, str, str, str, str]]:
    rows = set()
    for p in packages:
        epoch, _, evr = p.version.rpartition(":")
        version, _, release = evr.rpartition("-")
        rows.add(
            (
                p.name,
                epoch or "(none)",
                version,
                release,
                p.arch or "",
                p.meta("sourcerpm") or "",
                " ".join(p.licenses),
            )
        )
    return rows


def write_ndb(blobs: list[bytes], generation: int = 7) -> bytes:
    """An ndb ``Packages.db`` holding ``blobs`` as packages 1..n (layout of rpm's rpmpkg.c)."""
    page, blk = 4096, 16
    slot_pages = 1
    out = bytearray(slot_pages * page)
    out[0:32] = struct.pack("<4sIIII12x", b"RpmP", 0, generation, slot_pages, len(blobs) + 1)
    for off in range(32, slot_pages * page, 16):
        out[off : off + 16] = struct.pack("<4sIII", b"Slot", 0, 0, 0)
    for idx, blob in enumerate(blobs, start=1):
        blkoff = len(out) // blk
        blkcnt = (16 + len(blob) + 12 + blk - 1) // blk
        head = struct.pack("<4sIII", b"BlbS", idx, generation, len(blob))
        pad = b"\0" * (blkcnt * blk - (16 + len(blob) + 12))
        adler = zlib.adler32(head + blob + pad)
        out += head + blob + pad + struct.pack("<II4s", adler, len(blob), b"BlbE")
        slot = 32 + (idx - 1) * 16
        out[slot : slot + 16] = struct.pack("<4sIII", b"Slot", idx, blkoff, blkcnt)
    return bytes(out)


def test_wants_every_rpmdb_location() -> None:
    cat = RpmCataloger()
    for path in (
        "var/lib/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/Packages.db",
    ):
        assert cat.wants(FileInfo(path, 0o644, 1)), path
    for path in ("var/lib/rpm/Name", "var/lib/rpm/rpmdb.sqlite-wal", "var/lib/rpm/Packages.bak"):
        assert not cat.wants(FileInfo(path, 0o644, 1)), path


def test_sqlite_matches_rpm_qa(sqlite_db: bytes) -> None:
    assert as_rpm_qa(catalog(sqlite_db)) == rpm_qa()


@pytest.mark.parametrize("name", ["Packages-4096.gz", "Packages-16384.gz"])
def test_berkeley_db_matches_rpm_qa(name: str) -> None:
    # 4 KiB pages: every header on overflow pages; 16 KiB pages: headers inline on the hash page.
    assert as_rpm_qa(catalog(load(name), "var/lib/rpm/Packages")) == rpm_qa()


def test_ndb_matches_rpm_qa(blobs: list[bytes]) -> None:
    assert as_rpm_qa(catalog(write_ndb(blobs), "usr/lib/sysimage/rpm/Packages.db")) == rpm_qa()


def test_matches_syft_with_distro(sqlite_db: bytes) -> None:
    syft = [json.loads(line) for line in (DATA / "syft.jsonl").read_text().splitlines()]
    distro = DistroDetector().detect({"etc/os-release": (DATA / "os-release").read_bytes()})
    packages = qualify_purls(catalog(sqlite_db), distro)
    assert {(p.name, p.version, p.purl, p.licenses) for p in packages} == {
        (s["name"], s["version"], s["purl"], tuple(s["licenses"])) for s in syft
    }


def test_package_fields(sqlite_db: bytes) -> None:
    packages = {p.name: p for p in catalog(sqlite_db)}
    libs = packages["hello-imgsec-libs"]
    # The subpackage's source rpm is its parent's (hello.spec): name and EVR come from it.
    assert (libs.source_name, libs.source_version) == ("hello-imgsec", "2:1.2.3-4.el9")
    assert libs.purl == (
        "pkg:rpm/hello-imgsec-libs@1.2.3-4.el9?arch=x86_64&epoch=2&upstream=hello-imgsec-1.2.3-4.el9.src.rpm"
    )
    assert libs.meta("vendor") == "Example Corp"
    plain = packages["plain-tool"]
    assert (plain.version, plain.source_version, plain.meta("vendor")) == ("0.9-1", "0.9-1", None)
    for p in packages.values():
        assert p.type is PackageType.RPM
        assert p.locations[0].path == "var/lib/rpm/rpmdb.sqlite"
        assert p.layer == LAYER


def make_header(strings: dict[int, str], epoch: int | None = None) -> bytes:
    """A header blob built from the format (rpm lib/header.c): big-endian index, then the data store."""
    entries, data = [], b""
    for tag, value in strings.items():
        entries.append(struct.pack(">IIiI", tag, 6, len(data), 1))
        data += value.encode() + b"\0"
    if epoch is not None:
        data += b"\0" * (-len(data) % 4)
        entries.append(struct.pack(">IIiI", 1003, 4, len(data), 1))
        data += struct.pack(">I", epoch)
    return struct.pack(">II", len(entries), len(data)) + b"".join(entries) + data


@pytest.mark.parametrize(
    ("vendor", "namespace"),
    [
        ("Red Hat, Inc.", "redhat"),
        ("Fedora Project", "fedora"),
        ("Amazon Linux", "amzn"),
        ("Example Corp", None),
    ],
)
def test_vendor_names_the_namespace_until_the_distro_is_known(vendor: str, namespace: str | None) -> None:
    blob = make_header({1000: "bash", 1001: "5.1.8", 1002: "9.el9", 1011: vendor, 1022: "x86_64"})
    (p,) = catalog(write_ndb([blob]), "var/lib/rpm/Packages.db")
    prefix = f"pkg:rpm/{namespace}/bash@" if namespace else "pkg:rpm/bash@"
    assert p.purl.startswith(prefix)
    assert (p.version, p.licenses, p.source_name) == ("5.1.8-9.el9", (), None)


def test_epoch_zero_is_kept_and_gpg_pubkeys_are_not_packages() -> None:
    blobs = [
        make_header({1000: "tzdata", 1001: "2024a", 1002: "1.el9"}, epoch=0),
        make_header({1000: "gpg-pubkey", 1001: "fd431d51", 1002: "4ae0493b"}),
    ]
    (p,) = catalog(write_ndb(blobs), "var/lib/rpm/Packages.db")
    assert (p.name, p.version) == ("tzdata", "0:2024a-1.el9")  # rpm -q --qf '%{EVR}' prints 0: too
    assert "epoch=0" in p.purl


def test_later_entries_override_earlier_ones() -> None:
    # Entries appended after the immutable region ("dribble") replace earlier values, as in rpm.
    blob = make_header({1000: "pkg", 1001: "1.0"})
    il, dl = struct.unpack_from(">II", blob)
    extra = struct.pack(">IIiI", 1001, 6, dl, 1)
    patched = (
        struct.pack(">II", il + 1, dl + 4) + blob[8 : 8 + 16 * il] + extra + blob[8 + 16 * il :] + b"2.0\0"
    )
    assert parse_header_blob(patched).version == "2.0"


def test_split_source_rpm() -> None:
    assert split_source_rpm("gcc-c++-11.4.1-3.el9.src.rpm") == ("gcc-c++", "11.4.1", "3.el9")
    assert split_source_rpm("foo-1.0-1.nosrc.rpm") == ("foo", "1.0", "1")
    assert split_source_rpm("foo.src.rpm") is None
    assert split_source_rpm("foo-1.0-1.rpm") is None


def test_input_bytes_are_not_modified(sqlite_db: bytes) -> None:
    before = bytes(sqlite_db)
    catalog(sqlite_db)
    assert sqlite_db == before


# --- hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a database at all",
        b"SQLite format 3\0" + b"\0" * 200,
        b"RpmP" + b"\0" * 60,
        b"\0" * 12 + struct.pack("<I", 0x061561) + b"\0" * 600,
    ],
)
def test_garbage_yields_no_packages(content: bytes) -> None:
    assert catalog(content) == []


@pytest.mark.parametrize(
    "schema",
    [
        "CREATE TABLE Other (hnum INTEGER PRIMARY KEY, blob BLOB)",
        "CREATE VIEW Packages AS SELECT 1 AS hnum, x'00' AS blob",
        "CREATE VIRTUAL TABLE Packages USING fts5(hnum, blob)",
    ],
)
def test_sqlite_without_a_plain_packages_table(schema: str) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(schema)
    assert catalog(conn.serialize()) == []


def test_sqlite_rows_with_bad_blobs_are_skipped(blobs: list[bytes]) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    conn.executemany(
        "INSERT INTO Packages VALUES (?, ?)",
        [(1, blobs[0]), (2, b"\x00\x00"), (3, "text"), (4, blobs[0][:40])],
    )
    assert [p.name for p in catalog(conn.serialize())] == [parse_header_blob(blobs[0]).name]


def test_truncated_sqlite(sqlite_db: bytes) -> None:
    for cut in (100, 4096, len(sqlite_db) // 2):
        catalog(sqlite_db[:cut])  # never raises; whatever survives is well-formed


def test_ndb_blob_with_bad_checksum_is_skipped(blobs: list[bytes]) -> None:
    db = bytearray(write_ndb(blobs))
    first_blob = 4096 + 16
    db[first_blob + 20] ^= 0xFF  # corrupt package 1's header data
    names = {p.name for p in catalog(bytes(db), "var/lib/rpm/Packages.db")}
    assert names == {parse_header_blob(b).name for b in blobs[1:]}


def test_ndb_with_bad_slot_magic_yields_nothing(blobs: list[bytes]) -> None:
    db = bytearray(write_ndb(blobs))
    db[32:36] = b"XXXX"
    assert catalog(bytes(db), "var/lib/rpm/Packages.db") == []


def test_ndb_slot_pointing_outside_the_file(blobs: list[bytes]) -> None:
    db = bytearray(write_ndb(blobs))
    db[32:48] = struct.pack("<4sIII", b"Slot", 1, 0x7FFFFFF, 4)
    assert len(catalog(bytes(db), "var/lib/rpm/Packages.db")) == len(blobs) - 1


def test_bdb_overflow_cycle_and_truncation() -> None:
    db = bytearray(load("Packages-4096.gz"))
    # Point every overflow page's next-page field at itself: a loop must not hang.
    for pgno in range(1, len(db) // 4096):
        base = pgno * 4096
        if db[base + 25] == 7:
            db[base + 16 : base + 20] = struct.pack("<I", pgno)
    catalog(bytes(db), "var/lib/rpm/Packages")
    original = load("Packages-4096.gz")
    for cut in (512, 4096, 8192, len(original) - 4096):
        catalog(original[:cut], "var/lib/rpm/Packages")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_header_parser_raises_only_header_error(blob: bytes) -> None:
    try:
        parse_header_blob(blob)
    except HeaderError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_real_header_never_escapes(blobs: list[bytes], data: st.DataObject) -> None:
    blob = bytearray(blobs[0])
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    try:
        parse_header_blob(bytes(blob))
    except HeaderError:
        pass


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_mutated_databases_never_raise(blobs: list[bytes], data: st.DataObject) -> None:
    db = bytearray(
        data.draw(st.sampled_from([write_ndb(blobs), load("Packages-4096.gz"), load("Packages-16384.gz")]))
    )
    for _ in range(data.draw(st.integers(1, 16))):
        pos = data.draw(st.integers(0, len(db) - 1))
        db[pos] = data.draw(st.integers(0, 255))
    for p in catalog(bytes(db), "var/lib/rpm/Packages"):
        assert p.name and p.version


def test_two_thousand_packages(blobs: list[bytes]) -> None:
    # Speed is measured in bench/bench_catalogers.py; here only that every header is read.
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    conn.executemany(
        "INSERT INTO Packages VALUES (?, ?)", [(i, blobs[i % len(blobs)]) for i in range(1, 2001)]
    )
    db = conn.serialize()
    assert len(catalog(db)) == 2000

"""deb package licenses from ``usr/share/doc/<pkg>/copyright`` agree with syft 1.18's.

syft is the reference on the real bookworm image (its output cached per manifest digest, shared
with ``test_sbom_accuracy.py``).  Intended differences from syft: none on bookworm.  The small
layouts below check the squashed view (a later layer replacing or deleting a copyright file, a
symlinked doc directory) against the Debian copyright format 1.0 ("License:" lines), not imgsec.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imgsec.image.sources import open_image
from imgsec.sbom.catalog import catalog_image
from tests.fixtures.images import FixtureImage
from tests.helpers.syft import syft_document
from tests.unit.ocihelp import Entry, make_tar, write_layout

pytestmark = pytest.mark.integration


def deb_licenses(spec: str) -> dict[str, set[str]]:
    sbom = catalog_image(open_image(spec))
    return {p.name: set(p.licenses) for p in sbom.packages if str(p.type) == "deb"}


def test_bookworm_deb_licenses_match_syft(bookworm_image: FixtureImage) -> None:
    doc = syft_document(bookworm_image)
    theirs = {
        a["name"]: {lic["value"] for lic in a.get("licenses", [])}
        for a in doc["artifacts"]
        if a["type"] == "deb"
    }
    ours = deb_licenses(f"oci:{bookworm_image.layout}:{bookworm_image.tag}")
    assert set(ours) == set(theirs)
    assert sum(1 for v in theirs.values() if v) > 60  # the copyright files were really read
    differ = {n: (ours[n], theirs[n]) for n in ours if ours[n] != theirs[n]}
    assert differ == {}
    # libgcc-s1's doc directory is a symlink to gcc-12-base's; syft follows it, so must we.
    via_link = [
        a
        for a in doc["artifacts"]
        if a["name"] == "libgcc-s1"
        and any(
            loc.get("accessPath") == "/usr/share/doc/libgcc-s1/copyright"
            and loc["path"] != loc.get("accessPath")
            for lic in a.get("licenses", [])
            for loc in lic.get("locations", [])
        )
    ]
    assert via_link and ours["libgcc-s1"]


STATUS = b"""Package: alpha
Status: install ok installed
Version: 1.0-1

Package: beta
Status: install ok installed
Version: 2.0-1

Package: gamma
Status: install ok installed
Version: 3.0-1

Package: delta
Status: install ok installed
Version: 4.0-1
"""


def _copyright(*licenses: str) -> bytes:
    head = b"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
    return head + b"".join(
        b"Files: *\nCopyright: someone\nLicense: " + s.encode() + b"\n\n" for s in licenses
    )


def test_licenses_follow_the_squashed_filesystem(tmp_path: Path) -> None:
    base = make_tar(
        [
            Entry("var/lib/dpkg/status", STATUS),
            Entry("usr/share/doc/alpha/copyright", _copyright("MIT")),
            Entry("usr/share/doc/beta/copyright", _copyright("GPL-2+")),
            Entry("usr/share/doc/gamma-common/copyright", _copyright("BSD-3-clause", "Apache-2.0")),
            Entry("usr/share/doc/gamma", kind="symlink", link="gamma-common"),
            Entry("usr/share/doc/delta/copyright", b"This package has no machine-readable copyright.\n"),
        ]
    )
    upper = make_tar(
        [
            Entry("usr/share/doc/alpha/copyright", _copyright("ISC")),  # replaced
            Entry("usr/share/doc/beta/.wh.copyright", b""),  # deleted
        ]
    )
    write_layout(tmp_path / "oci", [base, upper], tag="t")
    assert deb_licenses(f"oci:{tmp_path / 'oci'}:t") == {
        "alpha": {"ISC"},
        "beta": set(),
        "gamma": {"BSD-3-clause", "Apache-2.0"},
        "delta": set(),
    }

"""The gemspec cataloger against real installed gemspecs, with syft 1.18.1 as the reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgsec.sbom.catalogers.base import FileInfo
from imgsec.sbom.catalogers.gem import GemspecCataloger
from imgsec.sbom.model import Package, PackageType
from tests.helpers.catalog import catalog_dir
from tests.helpers.syft import syft_dir_artifacts

DATA = Path(__file__).parent / "data" / "lang" / "gem"


def catalog_tree(root: Path) -> list[Package]:
    return catalog_dir(GemspecCataloger(), root)


def syft_packages(root: Path) -> set[tuple[str, str, str, str]]:
    artifacts = syft_dir_artifacts(root)
    return {(a["type"], a["name"], a["version"], a["purl"]) for a in artifacts}


def test_same_packages_as_syft() -> None:
    ours = {(str(p.type), p.name, p.version, p.purl) for p in catalog_tree(DATA)}
    assert len(ours) == 11
    assert ours == {k for k in syft_packages(DATA) if k[0] == "gem"}


def test_fields_of_a_real_gemspec() -> None:
    (rack,) = [p for p in catalog_tree(DATA) if p.name == "rack"]
    assert rack.type is PackageType.GEM
    assert (rack.version, rack.purl) == ("2.2.22", "pkg:gem/rack@2.2.22")
    assert rack.licenses == ("MIT",)
    assert rack.meta("homepage") == "https://github.com/rack/rack"
    assert rack.locations[0].path == "usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec"
    (unit,) = [p for p in catalog_tree(DATA) if p.name == "test-unit"]
    assert unit.licenses == ("Ruby", "BSDL", "PSFL")


def test_unicode_escapes_are_rendered(tmp_path: Path) -> None:
    spec = tmp_path / "specifications" / "x-1.0.gemspec"
    spec.parent.mkdir()
    spec.write_text(
        'Gem::Specification.new do |s|\n  s.name = "x".freeze\n  s.version = "1.0"\n'
        '  s.authors = ["Andr\\u00E9 Arko".freeze]\nend\n'
    )
    (pkg,) = catalog_tree(tmp_path)
    assert pkg.meta("authors") == "André Arko"
    assert {(str(pkg.type), pkg.name, pkg.version, pkg.purl)} == syft_packages(tmp_path)


def test_wants_only_installed_specifications() -> None:
    c = GemspecCataloger()
    assert c.wants(FileInfo("usr/local/bundle/specifications/rack-2.2.22.gemspec", 0o644, 1))
    assert c.wants(FileInfo("usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", 0o644, 1))
    assert not c.wants(FileInfo("app/rack.gemspec", 0o644, 1))  # a source checkout, not an installed gem
    assert not c.wants(FileInfo("usr/lib/ruby/gems/3.1.0/specifications/rack.rb", 0o644, 1))


@pytest.mark.parametrize(
    "content",
    [b"", b'  s.name = "only-a-name"\n', b'  s.version = "1.0"\n', b"\x00\xff" * 64, b"s.name = \n"],
)
def test_incomplete_or_hostile_gemspec_yields_nothing(content: bytes) -> None:
    info = FileInfo("specifications/x.gemspec", 0o644, len(content))
    assert GemspecCataloger().catalog(info, content) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(['s.name = "', 's.version = "', "s.licenses = [", '"', "]", "\\u00E9", "x", "\n"])
    )
)
def test_never_raises(parts: list[str]) -> None:
    content = "".join(parts).encode()
    GemspecCataloger().catalog(FileInfo("specifications/x.gemspec", 0o644, len(content)), content)

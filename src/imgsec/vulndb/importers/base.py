"""What every importer shares: problem counting (each kind reported once) and safe JSON reading."""

from __future__ import annotations

import json
import logging
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imgsec.errors import InputError

log = logging.getLogger("imgsec.vulndb")

#: Largest single JSON document an importer accepts (the whole Debian tracker is ~70 MB).
MAX_DOCUMENT = 512 * 1024 * 1024
#: Largest zip member (one advisory or CVE record); real ones are a few kB.
MAX_MEMBER = 16 * 1024 * 1024


@dataclass
class Problems:
    """Skipped inputs by kind, with the first example of each; logged once per kind at the end."""

    source: str
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    skipped_records: int = 0

    def add(self, kind: str, example: str, *, record: bool = True) -> None:
        """Count a problem; ``record=False`` when only part of a record (a range, a version) was dropped."""
        self.counts[kind] += 1
        self.examples.setdefault(kind, example)
        if record:
            self.skipped_records += 1

    @property
    def total(self) -> int:
        """Whole records (or documents) skipped."""
        return self.skipped_records

    def report(self) -> None:
        for kind, n in sorted(self.counts.items()):
            log.warning("%s: skipped %d (%s), e.g. %s", self.source, n, kind, self.examples[kind])


@dataclass(frozen=True)
class ImportResult:
    source: str
    records: int
    skipped: int
    problems: dict[str, int]


def load_json_file(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT:
            raise InputError(f"{path}: {size} bytes is larger than the {MAX_DOCUMENT} byte limit")
        with path.open("rb") as fh:
            return json.load(fh)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); check the file or the mirror") from exc


def iter_zip_json(path: Path, problems: Problems) -> Iterator[tuple[str, Any]]:
    """(member name, parsed JSON) for each ``*.json`` member; bad members are counted, not fatal.

    A zip that cannot be opened at all raises InputError: there is nothing to count.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, ValueError) as exc:
        raise InputError(
            f"{path} is not a readable zip archive ({exc}); re-download it from the mirror"
        ) from exc
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_MEMBER:
                problems.add("member too large", info.filename)
                continue
            try:
                with zf.open(info) as fh:
                    raw = fh.read(MAX_MEMBER + 1)
            except (OSError, zipfile.BadZipFile, EOFError, ValueError, NotImplementedError) as exc:
                problems.add("corrupt zip member", f"{info.filename}: {exc}")
                continue
            if len(raw) > MAX_MEMBER:
                problems.add("member too large", info.filename)
                continue
            try:
                yield info.filename, json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                problems.add("invalid JSON", f"{info.filename}: {exc}")

"""CVE JSON 5 records (cvelistV5 / CISA vulnrichment): CVSS metrics, KEV marks, titles.

Used only to enrich: severity for the CVEs other sources name. Metrics come from
``containers.cna.metrics`` and every ``containers.adp[].metrics`` (CISA's ADP adds CVSS where the
CNA gave none, and a ``kev`` entry when the CVE is in the Known Exploited Vulnerabilities catalog).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imgsec.vulndb.importers.base import ImportResult, Problems, iter_zip_json, load_json_file
from imgsec.vulndb.importers.cvss_score import score_vector
from imgsec.vulndb.store import CvssRow, DBWriter

SOURCE = "cve"
_METRIC_KEYS = {"cvssV4_0": "4.0", "cvssV3_1": "3.1", "cvssV3_0": "3.0", "cvssV2_0": "2.0"}


def import_cve_zip(path: Path, writer: DBWriter) -> ImportResult:
    problems = Problems(SOURCE)
    records = 0
    for member, data in iter_zip_json(path, problems):
        records += import_cve_record(data, writer, problems, where=member)
    problems.report()
    return ImportResult(SOURCE, records, problems.total, dict(problems.counts))


def import_cve_json(path: Path, writer: DBWriter) -> ImportResult:
    problems = Problems(SOURCE)
    records = import_cve_record(load_json_file(path), writer, problems, where=str(path))
    problems.report()
    return ImportResult(SOURCE, records, problems.total, dict(problems.counts))


def is_cve_record(data: Any) -> bool:
    return isinstance(data, dict) and data.get("dataType") == "CVE_RECORD"


def import_cve_record(data: Any, writer: DBWriter, problems: Problems, *, where: str) -> int:
    meta = data.get("cveMetadata") if isinstance(data, dict) else None
    containers = data.get("containers") if isinstance(data, dict) else None
    cve_id = meta.get("cveId") if isinstance(meta, dict) else None
    if not isinstance(cve_id, str) or not cve_id.startswith("CVE-") or not isinstance(containers, dict):
        problems.add("malformed CVE record", where)
        return 0
    cna_raw = containers.get("cna")
    cna: dict[str, Any] = cna_raw if isinstance(cna_raw, dict) else {}
    title = cna.get("title") if isinstance(cna.get("title"), str) else None
    if title is None:
        for d in cna.get("descriptions") or ():
            if (
                isinstance(d, dict)
                and str(d.get("lang", "")).startswith("en")
                and isinstance(d.get("value"), str)
            ):
                title = d["value"].strip().splitlines()[0][:200] if d["value"].strip() else None
                break
    state = meta.get("state") if isinstance(meta, dict) else None
    writer.set_cve_info(cve_id, title, state if isinstance(state, str) else None)
    rows = _metrics(cve_id, "cve:cna", cna.get("metrics"), problems)
    adps = containers.get("adp")
    for adp in adps if isinstance(adps, list) else ():
        if not isinstance(adp, dict):
            continue
        provider = adp.get("providerMetadata")
        short = provider.get("shortName") if isinstance(provider, dict) else None
        rows += _metrics(cve_id, f"cve:{short or 'adp'}", adp.get("metrics"), problems)
        for m in adp.get("metrics") or ():
            other = m.get("other") if isinstance(m, dict) else None
            if isinstance(other, dict) and other.get("type") == "kev":
                content = other.get("content")
                added = content.get("dateAdded") if isinstance(content, dict) else None
                writer.set_kev(cve_id, added if isinstance(added, str) else None)
    writer.add_cvss(rows)
    return 1


def _metrics(cve_id: str, source: str, metrics: Any, problems: Problems) -> list[CvssRow]:
    rows: list[CvssRow] = []
    for m in metrics if isinstance(metrics, list) else ():
        if not isinstance(m, dict):
            continue
        for key, version in _METRIC_KEYS.items():
            body = m.get(key)
            if not isinstance(body, dict) or not isinstance(body.get("vectorString"), str):
                continue
            vector = body["vectorString"]
            score = body.get("baseScore")
            if not isinstance(score, int | float):
                scored = score_vector(vector)
                if scored is None:
                    problems.add("invalid CVSS vector", f"{cve_id}: {vector}", record=False)
                    continue
                score = scored[1]
            rows.append(CvssRow(cve_id, source, version, vector, float(score)))
    return rows

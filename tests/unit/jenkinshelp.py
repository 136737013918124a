"""Jenkins plugin archives (``.hpi``/``.jpi``) built with the JDK's ``jar`` tool, cached on disk.

Laid out the way maven-hpi-plugin packs a plugin: ``META-INF/MANIFEST.MF`` with ``Short-Name``,
``Plugin-Version``, ``Group-Id``, ``Implementation-Title``/``-Version``, ``Long-Name``,
``Jenkins-Version``; ``META-INF/maven/<group>/<artifact>/pom.properties``; the plugin's own classes
as ``WEB-INF/lib/<artifact>.jar`` next to the third-party jars it bundles.  The Maven coordinates
are invented (no real plugin name), so syft's built-in artifactId->groupId table cannot decide a
purl that imgsec computes differently.

The tree is keyed by a hash of this file, under ``~/.cache/imgsec-test-fixtures/``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures._cache import cached_build, source_key

JAR = shutil.which("jar")

#: Every plugin's Maven coordinates, the facts the tests compare against.
NOTIFIER = ("org.jenkins-ci.plugins", "imgsec-notifier", "1.4.2")
TIMESTAMPER = ("io.jenkins.plugins", "imgsec-timestamper", "0.9.1")
DETACHED = ("org.jenkins-ci.plugins", "imgsec-detached", "3.1")


def _manifest(fields: dict[str, str]) -> str:
    return "".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n"


def _pom(group: str, artifact: str, version: str) -> str:
    return f"#Created by Apache Maven 3.9.6\ngroupId={group}\nartifactId={artifact}\nversion={version}\n"


def _plugin_manifest(group: str, artifact: str, version: str, **extra: str) -> dict[str, str]:
    return {
        "Group-Id": group,
        "Short-Name": artifact,
        "Long-Name": f"{artifact} plugin",
        "Plugin-Version": version,
        "Implementation-Title": artifact,
        "Implementation-Version": version,
        "Jenkins-Version": "2.426.3",
        "Url": f"https://github.com/jenkinsci/{artifact}-plugin",
        **extra,
    }


def _jar(
    out: Path,
    work: Path,
    manifest: dict[str, str] | None,
    files: dict[str, bytes | Path],
) -> Path:
    """``jar --create`` of ``files`` (archive path -> content or a file to copy), with ``manifest``."""
    assert JAR is not None
    src = work / f"src-{out.name}"
    src.mkdir(parents=True)
    (src / "placeholder.txt").write_text("x\n")
    for name, content in files.items():
        dest = src / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, dest)
        else:
            dest.write_bytes(content)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [JAR, "--create", "--file", str(out)]
    if manifest is None:
        cmd.append("--no-manifest")
    else:
        (work / f"{out.name}.mf").write_text(_manifest(manifest))
        cmd += ["--manifest", str(work / f"{out.name}.mf")]
    subprocess.run([*cmd, "-C", str(src), "."], check=True, capture_output=True, timeout=120)
    return out


def _build(root: Path) -> None:
    work = root.parent / f"{root.name}.work"
    tree = root / "tree"
    try:
        g, a, v = NOTIFIER
        pom_path = f"META-INF/maven/{g}/{a}/pom.properties"
        # The plugin's own classes jar: same coordinates, so its pom says a Jenkins group too.
        classes = _jar(
            work / "classes" / f"{a}.jar",
            work,
            {"Implementation-Title": a, "Implementation-Version": v},
            {pom_path: _pom(g, a, v).encode(), "io/imgsec/Notifier.class": b"\xca\xfe\xba\xbe"},
        )
        commons = _jar(
            work / "third" / "commons-text-1.10.0.jar",
            work,
            {"Implementation-Title": "Apache Commons Text", "Implementation-Version": "1.10.0"},
            {
                "META-INF/maven/org.apache.commons/commons-text/pom.properties": _pom(
                    "org.apache.commons", "commons-text", "1.10.0"
                ).encode()
            },
        )
        _jar(
            tree / "var/jenkins_home/plugins" / f"{a}.hpi",
            work,
            _plugin_manifest(g, a, v),
            {
                pom_path: _pom(g, a, v).encode(),
                f"WEB-INF/lib/{a}.jar": classes,
                "WEB-INF/lib/commons-text-1.10.0.jar": commons,
                "index.jelly": b"<div>notifier</div>\n",
            },
        )
        # A .jpi as the plugin manager installs it: manifest only, no pom.properties.
        g, a, v = TIMESTAMPER
        _jar(
            tree / "var/jenkins_home/plugins" / f"{a}.jpi",
            work,
            _plugin_manifest(g, a, v),
            {"index.jelly": b"<div>timestamper</div>\n"},
        )
        # A plugin whose pom.properties names a non-Jenkins group.
        _jar(
            tree / "var/jenkins_home/plugins/odd-1.0.hpi",
            work,
            _plugin_manifest("com.example", "odd", "1.0"),
            {"META-INF/maven/com.example/odd/pom.properties": _pom("com.example", "odd", "1.0").encode()},
        )
        # A plain jar whose pom.properties names a Jenkins plugin group.
        _jar(
            tree / "opt/tools/jenkins-glue-2.0.jar",
            work,
            {"Implementation-Title": "glue", "Implementation-Version": "2.0"},
            {
                "META-INF/maven/io.jenkins.plugins/jenkins-glue/pom.properties": _pom(
                    "io.jenkins.plugins", "jenkins-glue", "2.0"
                ).encode()
            },
        )
        # jenkins.war carries plugins of its own (WEB-INF/detached-plugins/*.hpi).
        g, a, v = DETACHED
        detached = _jar(
            work / "detached" / f"{a}.hpi",
            work,
            _plugin_manifest(g, a, v),
            {f"META-INF/maven/{g}/{a}/pom.properties": _pom(g, a, v).encode()},
        )
        _jar(
            tree / "usr/share/java/jenkins.war",
            work,
            {"Implementation-Title": "Jenkins war", "Implementation-Version": "2.426.3"},
            {f"WEB-INF/detached-plugins/{a}.hpi": detached},
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def plugin_tree() -> Path:
    """The directory holding the plugins, wars and jars (built once, then cached)."""
    if JAR is None:
        pytest.skip("the JDK's jar tool is not installed (apt-get install openjdk-17-jdk-headless)")
    key = source_key([Path(__file__)], base=Path(__file__).resolve().parents[2])
    return cached_build("jenkins-plugins", key, _build) / "tree"

"""Byte-for-byte compatibility with Go, the language cosign is written in, using only Go's standard library.

A small Go program (below, compiled once and cached) declares the JSON structs of cosign's formats as
the specifications and Go packages define them (simple signing, go-containerregistry's manifest and
config, DSSE envelope, in-toto statement, go-securesystemslib's encrypted envelope) and lets
``encoding/json`` produce the bytes; it verifies signatures with ``crypto/ecdsa`` as cosign does.
Our output must equal Go's, and Go must accept our signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imgsec.signing import keys, manifest, payload
from imgsec.signing.sign import attest_image, sign_image
from imgsec.signing.store_oci import OCILayoutStore
from tests.fixtures._cache import cached_build
from tests.helpers.registry import build_layout

pytestmark = pytest.mark.integration

GO_SOURCE = r"""
package main

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
)

type identity struct {
	DockerReference string `json:"docker-reference"`
}
type image struct {
	DockerManifestDigest string `json:"docker-manifest-digest"`
}
type critical struct {
	Identity identity `json:"identity"`
	Image    image    `json:"image"`
	Type     string   `json:"type"`
}
type simpleSigning struct {
	Critical critical               `json:"critical"`
	Optional map[string]interface{} `json:"optional"`
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Size        int64             `json:"size"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations,omitempty"`
}
type manifest struct {
	SchemaVersion int64             `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}
type history struct {
	Created string `json:"created,omitempty"`
}
type rootfs struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}
type containerConfig struct {
	Env []string `json:"Env,omitempty"`
}
type configFile struct {
	Architecture string          `json:"architecture"`
	Created      string          `json:"created,omitempty"`
	History      []history       `json:"history,omitempty"`
	OS           string          `json:"os"`
	RootFS       rootfs          `json:"rootfs"`
	Config       containerConfig `json:"config"`
}
type signature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}
type envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []signature `json:"signatures"`
}
type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}
type statement struct {
	Type          string      `json:"_type"`
	PredicateType string      `json:"predicateType"`
	Subject       []subject   `json:"subject"`
	Predicate     interface{} `json:"predicate"`
}
type scryptParams struct {
	N int `json:"N"`
	R int `json:"r"`
	P int `json:"p"`
}
type kdf struct {
	Name   string       `json:"name"`
	Params scryptParams `json:"params"`
	Salt   []byte       `json:"salt"`
}
type secretbox struct {
	Name  string `json:"name"`
	Nonce []byte `json:"nonce"`
}
type encrypted struct {
	KDF        kdf       `json:"kdf"`
	Cipher     secretbox `json:"cipher"`
	Ciphertext []byte    `json:"ciphertext"`
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}

func remarshal(kind string, data []byte) []byte {
	var v interface{}
	switch kind {
	case "manifest":
		v = &manifest{}
	case "config":
		v = &configFile{}
	case "envelope":
		v = &envelope{}
	case "statement":
		v = &statement{}
	case "encrypted":
		v = &encrypted{}
	case "simplesigning":
		v = &simpleSigning{}
	default:
		fail(fmt.Errorf("unknown kind %s", kind))
	}
	if err := json.Unmarshal(data, v); err != nil {
		fail(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		fail(err)
	}
	return out
}

func verify(pubPEM []byte, data []byte, sig []byte) bool {
	block, _ := pem.Decode(pubPEM)
	if block == nil {
		fail(fmt.Errorf("no PEM"))
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		fail(err)
	}
	digest := sha256.Sum256(data)
	return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig)
}

func pae(payloadType string, body []byte) []byte {
	return []byte(fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(body), body))
}

func read(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	return data
}

func main() {
	args := os.Args[1:]
	switch args[0] {
	case "payload":
		var optional map[string]interface{}
		if args[3] != "" {
			if err := json.Unmarshal([]byte(args[3]), &optional); err != nil {
				fail(err)
			}
		}
		out, err := json.Marshal(simpleSigning{
			Critical: critical{identity{args[1]}, image{args[2]}, "cosign container image signature"},
			Optional: optional,
		})
		if err != nil {
			fail(err)
		}
		os.Stdout.Write(out)
	case "remarshal":
		os.Stdout.Write(remarshal(args[1], read(args[2])))
	case "verify":
		sig, err := base64.StdEncoding.DecodeString(args[3])
		if err != nil {
			fail(err)
		}
		if !verify(read(args[1]), read(args[2]), sig) {
			os.Exit(1)
		}
	case "verify-dsse":
		var env envelope
		if err := json.Unmarshal(read(args[2]), &env); err != nil {
			fail(err)
		}
		body, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			fail(err)
		}
		sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
		if err != nil {
			fail(err)
		}
		if !verify(read(args[1]), pae(env.PayloadType, body), sig) {
			os.Exit(1)
		}
		os.Stdout.Write(body)
	}
}
"""


@pytest.fixture(scope="module")
def gocheck() -> Path:
    if shutil.which("go") is None:
        pytest.skip("the Go toolchain is needed (apt-get install golang-go)")

    def build(out: Path) -> None:
        (out / "main.go").write_text(GO_SOURCE)
        (out / "go.mod").write_text("module imgsec.test/gocheck\n\ngo 1.19\n")
        subprocess.run(
            ["go", "build", "-o", str(out / "gocheck"), "."],
            cwd=out,
            check=True,
            capture_output=True,
            timeout=300,
            env=_go_env(out),
        )
        # The build cache (the compiled standard library) is not needed once the binary exists.
        shutil.rmtree(out / ".gocache", ignore_errors=True)

    key = hashlib.sha256(GO_SOURCE.encode()).hexdigest()[:16]
    return cached_build("gocheck", key, build) / "gocheck"


def _go_env(out: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {"GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0", "GOCACHE": str(out / ".gocache")}
    )
    env.setdefault("HOME", str(out))
    return env


def go(binary: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(binary), *args], capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def signer() -> keys.Signer:
    return keys.load_private_key(keys.generate_key_pair(b"pw").private_pem, b"pw", "k")


TRICKY = {
    "z": "last",
    "a": "<script>&amp;</script>",
    "m": "é – ü",
    "sep": "line\u2028para\u2029",
    "q": 'quo"te\\',
}


def test_payload_bytes_equal_gos(gocheck: Path) -> None:
    digest = "sha256:" + hashlib.sha256(b"image").hexdigest()
    for optional in (None, {"env": "prod"}, TRICKY):
        ours = payload.simple_signing_payload("127.0.0.1:5000/team/app", digest, optional)
        theirs = go(
            gocheck,
            "payload",
            "127.0.0.1:5000/team/app",
            digest,
            json.dumps(optional) if optional else "",
        )
        assert theirs.returncode == 0, theirs.stderr
        assert ours == theirs.stdout


def test_go_verifies_our_signatures(gocheck: Path, signer: keys.Signer, tmp_path: Path) -> None:
    body = payload.simple_signing_payload("r.io/a", "sha256:" + "a" * 64, {"k": "v"})
    (tmp_path / "payload").write_bytes(body)
    (tmp_path / "key.pub").write_bytes(keys.public_key_pem(signer.public_key))
    sig = base64.b64encode(signer.sign(body)).decode()
    assert go(gocheck, "verify", str(tmp_path / "key.pub"), str(tmp_path / "payload"), sig).returncode == 0
    (tmp_path / "payload").write_bytes(body.replace(b'"v"', b'"w"'))
    assert go(gocheck, "verify", str(tmp_path / "key.pub"), str(tmp_path / "payload"), sig).returncode == 1


def test_manifest_config_envelope_statement_equal_gos(
    gocheck: Path, signer: keys.Signer, tmp_path: Path
) -> None:
    built = build_layout(tmp_path / "layout", tag="v1")
    store = OCILayoutStore(built.layout)
    target = store.resolve("v1", "oci:layout:v1")
    sign_image(store, target, signer, identity="r.io/a", annotations={"env": "prod"})
    sign_image(store, target, signer, identity="r.io/a", annotations={"env": "dev"})
    predicate = json.dumps(
        {"z": 1.0, "a": [1e21, 0.000001, 1e-7], "html": "<&>", "nested": {"b": 2, "a": 1}}
    ).encode()
    attest_image(
        store, target, signer, subject_name="r.io/a", predicate=predicate, type_name="https://example.com/p"
    )

    def check(kind: str, data: bytes) -> None:
        path = tmp_path / f"{kind}.json"
        path.write_bytes(data)
        out = go(gocheck, "remarshal", kind, str(path))
        assert out.returncode == 0, out.stderr
        assert out.stdout == data, kind

    for suffix in ("sig", "att"):
        data = store.get_manifest(manifest.signature_tag(target.digest, suffix))
        assert data is not None
        check("manifest", data)
        doc = json.loads(data)
        check("config", store.get_blob(doc["config"]["digest"], doc["config"]["size"], 1 << 20))
        for layer in doc["layers"]:
            blob = store.get_blob(layer["digest"], layer["size"], 1 << 20)
            if suffix == "sig":
                check("simplesigning", blob)
                continue
            check("envelope", blob)
            (tmp_path / "key.pub").write_bytes(keys.public_key_pem(signer.public_key))
            (tmp_path / "env.json").write_bytes(blob)
            verified = go(gocheck, "verify-dsse", str(tmp_path / "key.pub"), str(tmp_path / "env.json"))
            assert verified.returncode == 0, verified.stderr
            check("statement", verified.stdout)


def test_encrypted_key_envelope_equals_gos(gocheck: Path, tmp_path: Path) -> None:
    pair = keys.generate_key_pair(b"pw")
    envelope = keys.decode_pem(pair.private_pem, "k").body
    path = tmp_path / "enc.json"
    path.write_bytes(envelope)
    out = go(gocheck, "remarshal", "encrypted", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout == envelope

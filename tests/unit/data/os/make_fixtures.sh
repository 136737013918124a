#!/bin/sh
# Regenerates the OS-package fixtures and the oracle outputs the unit tests compare against.
# Every expected value comes from a real tool (rpm, db5.3_load, dpkg-query, syft), never from imgsec.
# Needs: rpm rpmbuild (apt: rpm), db5.3_load (apt: db5.3-util), dpkg-query, apt-get download,
# syft (.venv/bin/syft), jq.  The bookworm status comes from the debootstrap minbase fixture
# (tests/fixtures/bookworm.py); pass its rootfs as $1.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOTFS=${1:?usage: make_fixtures.sh BOOKWORM_ROOTFS}
SYFT=${SYFT:-$HERE/../../../../.venv/bin/syft}
export SYFT_CHECK_FOR_APP_UPDATE=false
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

syft_pkgs() {  # $1 = dir, $2 = type: one JSON object a line, sorted
    "$SYFT" "dir:$1" -o syft-json -q | jq -c --arg t "$2" \
        '.artifacts[] | select(.type==$t) | {name, version, purl, licenses: [.licenses[].value]}' | sort
}

# --- dpkg: the real debootstrap minbase status, dpkg-query and syft as oracles ---------------
mkdir -p "$W/deb/var/lib/dpkg" "$W/deb/etc"
cp "$ROOTFS/var/lib/dpkg/status" "$W/deb/var/lib/dpkg/status"
cp "$ROOTFS/usr/lib/os-release" "$W/deb/etc/os-release"
gzip -9n < "$ROOTFS/var/lib/dpkg/status" > "$HERE/dpkg/bookworm-status.gz"
cp "$ROOTFS/usr/lib/os-release" "$HERE/dpkg/bookworm-os-release"
cp "$ROOTFS/etc/debian_version" "$HERE/dpkg/bookworm-debian_version"
dpkg-query --admindir="$W/deb/var/lib/dpkg" -W \
    -f '${Package} ${Version} ${source:Package} ${source:Version} ${Architecture} ${db:Status-Status}\n' \
    | sort > "$HERE/dpkg/bookworm-dpkg-query.txt"
syft_pkgs "$W/deb" deb > "$HERE/dpkg/bookworm-syft.jsonl"
# licenses: a sample of the real copyright files (machine-readable and free-form ones)
COPYRIGHTS="adduser apt base-files bash dash debconf e2fsprogs gzip libaudit-common libbz2-1.0 libc6 libcrypt1 libselinux1 login sed tar zlib1g"
for p in $COPYRIGHTS; do
    mkdir -p "$W/deb/usr/share/doc/$p"
    cp "$ROOTFS/usr/share/doc/$p/copyright" "$W/deb/usr/share/doc/$p/copyright"
done
tar -C "$W/deb" --owner=0 --group=0 --mtime=@0 --sort=name -cf - usr/share/doc | gzip -9n > "$HERE/dpkg/copyright-sample.tar.gz"
syft_pkgs "$W/deb" deb > "$HERE/dpkg/bookworm-syft-with-copyright.jsonl"

# distroless: status.d holds each .deb's control file as dpkg-deb prints it
mkdir -p "$W/debs" "$HERE/dpkg/status.d"
(cd "$W/debs" && apt-get download -q netbase libsqlite3-0 tzdata >/dev/null 2>&1)
for deb in "$W"/debs/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -f "$deb" > "$HERE/dpkg/status.d/$name"
    dpkg-deb -f "$deb" Package Version Source Architecture >> "$W/controls.txt"
done
rm -rf "$W/dl" && mkdir -p "$W/dl/var/lib/dpkg" "$W/dl/etc"
cp -r "$HERE/dpkg/status.d" "$W/dl/var/lib/dpkg/"
cp "$ROOTFS/usr/lib/os-release" "$W/dl/etc/os-release"
syft_pkgs "$W/dl" deb > "$HERE/dpkg/distroless-syft.jsonl"

# --- apk: hand-written db in the documented format; syft as oracle --------------------------
mkdir -p "$W/apk/lib/apk/db" "$W/apk/etc"
cp "$HERE/apk/installed" "$W/apk/lib/apk/db/installed"
printf 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n' > "$W/apk/etc/os-release"
cp "$W/apk/etc/os-release" "$HERE/apk/os-release"
syft_pkgs "$W/apk" apk > "$HERE/apk/syft.jsonl"

# --- rpm: real packages built from the specs, installed into a real sqlite rpmdb -------------
mkdir -p "$W/top/SPECS"
cp "$HERE"/rpm/*.spec "$W/top/SPECS/"
for spec in "$W"/top/SPECS/*.spec; do
    rpmbuild -bb --quiet --define "_topdir $W/top" "$spec" >/dev/null
done
mkdir "$W/db"
rpm --initdb --dbpath "$W/db"
rpm -i --nodeps --justdb --noscripts --ignorearch --dbpath "$W/db" "$W"/top/RPMS/*/*.rpm 2>/dev/null
rpm -qa --dbpath "$W/db" \
    --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM} %{LICENSE}\n' | sort > "$HERE/rpm/rpm-qa.txt"
gzip -9n < "$W/db/rpmdb.sqlite" > "$HERE/rpm/rpmdb.sqlite.gz"
# Berkeley DB hash copies (the pre-4.16 format) of the same header blobs, written by libdb's own
# db_load; 4 KiB pages put every blob on overflow pages, 16 KiB pages keep them on the hash page.
python3 - "$W/db/rpmdb.sqlite" "$W/Packages.dump" <<'PY'
import sqlite3, struct, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
out = ["VERSION=3", "format=bytevalue", "type=hash", "db_pagesize=PAGESIZE", "HEADER=END"]
out += [" " + struct.pack("<I", 0).hex(), " " + struct.pack("<I", len(rows) + 1).hex()]  # rpm's record 0
for hnum, blob in rows:
    out += [" " + struct.pack("<I", hnum).hex(), " " + blob.hex()]
out.append("DATA=END")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
for size in 4096 16384; do
    sed "s/PAGESIZE/$size/" "$W/Packages.dump" > "$W/P.dump"
    mkdir -p "$W/bdb-$size"
    db5.3_load -f "$W/P.dump" "$W/bdb-$size/Packages"
    gzip -9n < "$W/bdb-$size/Packages" > "$HERE/rpm/Packages-$size.gz"
    # rpm's own read-only Berkeley DB backend must list the same packages
    rpm -qa --dbpath "$W/bdb-$size" --define '_db_backend bdb_ro' \
        --qf '%{NAME} %{EPOCH} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM} %{LICENSE}\n' 2>/dev/null \
        | sort | cmp - "$HERE/rpm/rpm-qa.txt"
done
mkdir -p "$W/rr/var/lib/rpm" "$W/rr/etc"
cp "$W/db/rpmdb.sqlite" "$W/rr/var/lib/rpm/"
printf 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.3"\n' > "$W/rr/etc/os-release"
cp "$W/rr/etc/os-release" "$HERE/rpm/os-release"
syft_pkgs "$W/rr" rpm > "$HERE/rpm/syft.jsonl"
echo "fixtures regenerated in $HERE"

#!/bin/sh
# Copies out of this Debian system what the server image runs, into ROOTFS ($1): python3 and
# its standard library (less what a server never imports), the shared libraries they load (as
# ldd lists them), and busybox for a shell and the few tools `docker exec` users reach for.
# docker/server.Dockerfile runs it in a build stage and copies ROOTFS onto an empty image:
# ~45 MB instead of ~300 MB, so `fab deploy` and `fab swarm.deploy` move far less.
set -eu
ROOTFS=$1
PYTHON=$(readlink -f /usr/bin/python3) # /usr/bin/python3.11
VERSION=$(basename "$PYTHON")
STDLIB=/usr/lib/$VERSION
TOOLS="sh ash id touch rm mkdir cat ls ps kill sleep true false env grep chown chmod cp mv ln head tail sed wc find"

mkdir -p "$ROOTFS/usr/bin" "$ROOTFS/usr/lib" "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"

cp "$PYTHON" "$ROOTFS/usr/bin/"
ln -s "$VERSION" "$ROOTFS/usr/bin/python3"
cp -a "$STDLIB" "$ROOTFS/usr/lib/"
for unused in test idlelib tkinter turtledemo turtle.py ensurepip lib2to3 pydoc_data \
    distutils venv; do
    rm -rf "${ROOTFS:?}$STDLIB/$unused"
done
# compiled once here (a non-root server cannot write them): plain .pyc only, no -O variants
python3 -m compileall -q "$ROOTFS$STDLIB" >/dev/null 2>&1 || true
find "$ROOTFS$STDLIB" -name '*.opt-[12].pyc' -delete

# The dynamic loader and every library python3 or one of its extension modules links to.
for object in "$PYTHON" "$STDLIB"/lib-dynload/*.so; do
    ldd "$object" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
done | sort -u | while read -r library; do
    cp -L --parents "$library" "$ROOTFS"
done

cp /bin/busybox "$ROOTFS/bin/busybox"
for tool in $TOOLS; do
    ln -s busybox "$ROOTFS/bin/$tool"
done
ln -s ../../bin/busybox "$ROOTFS/usr/bin/env"

echo "root:x:0:0:root:/root:/bin/sh" >"$ROOTFS/etc/passwd"
echo "root:x:0:" >"$ROOTFS/etc/group"

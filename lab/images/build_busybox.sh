#!/usr/bin/env bash
# Build a tiny busybox image (Debian's static busybox, every applet as a symlink)
# without pulling from a registry. vcsim uses it (VCSIM_BUSYBOX) to untar the
# DMI files of container-backed VMs; it also serves as a stand-in node image.
# Usage: lab/images/build_busybox.sh IMAGE_NAME   e.g. containerops-lab/busybox:latest
# Note: this busybox's wget segfaults here; tar/sh/sleep work.
set -euo pipefail

image="${1:?usage: $0 IMAGE_NAME}"
bb=/bin/busybox

if [[ ! -x "$bb" ]]; then
    # Wait for any other apt/dpkg run instead of failing on its lock.
    log="$(mktemp)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q busybox-static >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
    rm -f "$log"
fi
# Only a static binary works in an empty image.
if ldd "$bb" >/dev/null 2>&1; then
    echo "build_busybox: $bb is not statically linked (install busybox-static)" >&2
    exit 1
fi

sum="$(sha256sum "$bb" | cut -d' ' -f1)"
have="$(docker image inspect -f '{{ index .Config.Labels "containerops.lab.busybox.sha256" }}' "$image" 2>/dev/null || true)"
if [[ "$have" == "$sum" ]]; then
    echo "build_busybox: $image is up to date"
    exit 0
fi

tree="$(mktemp -d)"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,tmp,etc,root,proc,sys,dev,run}
chmod 1777 "$tree/tmp"
cp "$bb" "$tree/bin/busybox"
# --list-full gives each applet's usual directory (bin/sh, usr/bin/tar, ...).
"$bb" --list-full | while read -r applet; do
    [[ "$applet" == bin/busybox || -e "$tree/$applet" ]] && continue
    ln -s /bin/busybox "$tree/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$tree/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$tree/etc/group"

tar -C "$tree" --numeric-owner -c . | docker import \
    -c 'LABEL containerops.lab=true' \
    -c "LABEL containerops.lab.busybox.sha256=$sum" \
    -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/sh"]' \
    -m "busybox-static $("$bb" | head -1 | cut -d' ' -f2)" \
    - "$image" >/dev/null
echo "build_busybox: built $image"

#!/usr/bin/env bash
# Build the lab node image: Debian bookworm from debootstrap (no registry can
# be pulled from), systemd + sshd + python3, and the boot unit that applies
# user data. Rebuilt only when this recipe changes (hash label on the image).
set -euo pipefail
image=${1:-containerops-lab/node:bookworm}
here=$(cd "$(dirname "$0")" && pwd)
recipe_hash=$(cd "$here" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)

current=$(docker image inspect -f '{{ index .Config.Labels "containerops.lab.recipe" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$recipe_hash" ]; then
  echo "node image $image is up to date ($recipe_hash)"
  exit 0
fi

# Use the mirror this machine's apt already uses, so the recipe names no host.
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p; s/^deb \+\(http[^ ]*\) \+bookworm .*/\1/p' \
  /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -v security | head -n1 || true)

rootfs=$(mktemp -d /var/tmp/lab-node-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
echo "building node image $image (recipe $recipe_hash) with debootstrap${mirror:+ from $mirror}..."
debootstrap --variant=minbase \
  --include=python3,python3-yaml,systemd,systemd-sysv,dbus,iproute2,iputils-ping,ca-certificates,openssh-server,sudo,procps,gnupg,curl \
  bookworm "$rootfs" ${mirror:+"$mirror"} >/tmp/lab-node-debootstrap.log 2>&1 \
  || { tail -n 20 /tmp/lab-node-debootstrap.log >&2; exit 1; }

cp -a "$here/rootfs/." "$rootfs/"
chroot "$rootfs" systemctl enable node-userdata.service ssh.service >/dev/null 2>&1
# Units that cannot work inside a container; masking keeps boot clean.
chroot "$rootfs" systemctl mask systemd-udevd.service systemd-udevd-kernel.socket \
  systemd-udevd-control.socket systemd-modules-load.service sys-kernel-debug.mount \
  sys-kernel-tracing.mount sys-kernel-config.mount getty@tty1.service console-getty.service \
  systemd-remount-fs.service >/dev/null 2>&1
# Per-node identity is made at boot, never shared through the image.
rm -f "$rootfs"/etc/ssh/ssh_host_* 
: >"$rootfs/etc/machine-id"
sed -i 's/^#\?PermitRootLogin.*/PermitRootLogin prohibit-password/; s/^#\?PasswordAuthentication.*/PasswordAuthentication no/' \
  "$rootfs/etc/ssh/sshd_config"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | docker import - "$image-rootfs" >/dev/null
# import cannot set STOPSIGNAL; a local build FROM the imported rootfs can (no pull).
docker build -q -t "$image" - >/dev/null <<DOCKERFILE
FROM $image-rootfs
ENV container=docker
STOPSIGNAL SIGRTMIN+3
LABEL containerops.lab=true containerops.lab.recipe=$recipe_hash
CMD ["/lib/systemd/systemd"]
DOCKERFILE
docker rmi "$image-rootfs" >/dev/null
echo "built $image ($recipe_hash)"

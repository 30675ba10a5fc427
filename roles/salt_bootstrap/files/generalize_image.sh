#!/bin/sh
# Takes out of a builder machine what makes it one machine, so that every
# clone of its image gets its own: SSH host keys (made again at first boot by
# the unit installed here), machine-id, Salt minion keys and id, the engine's
# state and ID, caches. The engine starts first with the inventory's settings.
set -eu
cache_dir=$1
salt_config_dir=$2

systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
rm -rf /var/lib/docker/* /etc/docker/key.json
rm -rf "$salt_config_dir/pki" "$salt_config_dir/minion_id" /var/cache/salt "$cache_dir"

cat >/etc/systemd/system/containerops-ssh-host-keys.service <<'UNIT'
[Unit]
Description=SSH host keys of this machine (made once, at its first boot)
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable containerops-ssh-host-keys.service >/dev/null 2>&1
rm -f /etc/ssh/ssh_host_*

if command -v apt-get >/dev/null; then apt-get clean; rm -rf /var/lib/apt/lists/*; fi
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id

#!/usr/bin/env bash
# Prepare this machine for the lab: Debian packages and a running Docker
# engine. Safe to run again: installs only what is missing.
set -euo pipefail
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"

packages=(docker.io golang-go golang-github-vmware-govmomi-dev debootstrap etcd-server
          busybox-static openssh-client openssl python3-venv make)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-host: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's etcd-server package starts a system etcd; the lab runs its own.
  if systemctl is-active --quiet etcd 2>/dev/null; then $sudo systemctl disable --now etcd >/dev/null 2>&1 || true; fi
fi

if ! docker info >/dev/null 2>&1; then
  if systemctl is-system-running >/dev/null 2>&1 || [ "$(systemctl is-system-running 2>/dev/null)" = degraded ]; then
    $sudo systemctl start docker
  else
    echo "setup-host: starting dockerd (no systemd here)"
    $sudo sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "setup-host: Docker engine did not start; see /var/log/dockerd.log" >&2; exit 1; }
fi
echo "setup-host: packages present, Docker engine $(docker version -f '{{.Server.Version}}') running"

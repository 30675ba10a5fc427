#!/usr/bin/env bash
# Bake the lab's golden node image with the product's own playbook
# (playbooks/bake_image.yml): a builder container of the plain node image gets
# Salt and the engine packages, its identity is taken out, and it is committed
# the way a VM becomes a template. Lab VMs and ECS instances of the golden image
# id start from it; the plain image stays for the path without one. Rebuilt only
# when the plain image or what the bake runs changes (hash label on the image).
set -euo pipefail
plain=${1:-containerops-lab/node:bookworm}
golden=${2:-containerops-lab/node:bookworm-golden}
state_dir=${3:?usage: bake_node.sh PLAIN GOLDEN LAB_STATE_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
playbook_bin=$repo/.venv/bin/ansible-playbook
[ -x "$playbook_bin" ] || { echo "bake_node.sh: $playbook_bin is missing: run 'make venv' first" >&2; exit 1; }

inputs=$(cd "$repo" && {
  docker image inspect -f '{{.Id}}' "$plain"
  # Python's bytecode is no input (a test that imports a file of the formula writes it; the archive leaves it out).
  find roles/salt_bootstrap salt/states/containerops/docker salt/states/containerops/parameters \
    salt/states/containerops/map.jinja playbooks/bake_image.yml -name __pycache__ -prune -o -type f -print0 \
    | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "containerops.lab.bake" }}' "$golden" 2>/dev/null || true)
if [ "$current" = "$inputs" ]; then
  echo "golden node image $golden is up to date ($inputs)"
  exit 0
fi

echo "baking golden node image $golden ($inputs) with playbooks/bake_image.yml..."
builder=containerops-lab-bake
docker rm -f -v "$builder" >/dev/null 2>&1 || true
trap 'docker rm -f -v "$builder" >/dev/null 2>&1 || true' EXIT
# The node flags of labctl (systemd, its own engine); the default bridge, so the
# builder takes no address of the lab network; /var/lib/docker stays out of the image.
docker run -d --name "$builder" --label containerops.lab=true --network bridge \
  --cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined \
  --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host \
  -v /var/lib/docker "$plain" >/dev/null
timeout 60 docker exec "$builder" systemctl is-system-running --wait >/dev/null 2>&1 || true

[ -d "$state_dir" ] || mkdir -m 0700 "$state_dir"
log=$state_dir/bake.log
if ! ANSIBLE_CONFIG="$repo/ansible.cfg" "$playbook_bin" -i "$builder," -c community.docker.docker \
    -e bake_hosts="$builder" -e ansible_python_interpreter=/usr/bin/python3 \
    -e salt_bootstrap_controller_cache_dir="$state_dir/salt" \
    "$repo/playbooks/bake_image.yml" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  exit 1
fi
docker stop -t 30 "$builder" >/dev/null
docker commit --change "LABEL containerops.lab.bake=$inputs" "$builder" "$golden" >/dev/null
echo "baked $golden ($inputs)"

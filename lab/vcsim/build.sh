#!/usr/bin/env bash
# Build the lab vSphere simulator from Debian's govmomi sources (no module proxy).
# Usage: lab/vcsim/build.sh [OUTPUT]   (default: <repo>/.lab/bin/vcsim)
# Needs: apt-get install golang-go golang-github-vmware-govmomi-dev
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$root/.lab/bin/vcsim}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
sources=("$here"/*.go)

newest="${sources[0]}"
for source in "${sources[@]}"; do
    if [[ "$source" -nt "$newest" ]]; then newest="$source"; fi
done
if [[ -x "$out" && "$out" -nt "$newest" ]]; then
    echo "vcsim: $out is up to date"
    exit 0
fi

gocode=/usr/share/gocode
if [[ ! -d "$gocode/src/github.com/vmware/govmomi/simulator" ]]; then
    echo "vcsim: $gocode has no govmomi; apt-get install golang-github-vmware-govmomi-dev" >&2
    exit 1
fi

# GOPATH mode needs the package inside a GOPATH; keep that tree (and the go
# build cache) next to the output, never in the source tree.
outdir="$(dirname "$out")"
mkdir -p "$outdir"
work="$outdir/.vcsim-gopath"
pkg="$work/src/containerops.lab/vcsim"
rm -rf "$pkg"
mkdir -p "$pkg"
cp "${sources[@]}" "$pkg/"

export GO111MODULE=off
export GOPATH="$work:$gocode"
export GOCACHE="${GOCACHE:-$work/cache}"
export GOFLAGS=
(cd "$pkg" && go build -trimpath -o "$out.tmp" .)
mv -f "$out.tmp" "$out"
echo "vcsim: built $out"

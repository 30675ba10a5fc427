#!/bin/sh
# What salt_bootstrap reads from a node (node_state.yml) or from the salt-master's host
# (master.yml) before it changes anything, in one go and without Python: a module run
# costs a node about a third of a second of CPU, this next to nothing, and the role would
# otherwise make several of them on every run.
#
# usage: node_state.sh VENV KEY [PATH...] [-- UNIT...]
# prints one JSON object:
#   salt_version   the Salt release installed in the virtualenv VENV, from the package's
#                  metadata; "" when there is none, or when VENV's Python does not start
#   key_finger     the fingerprint of the public key KEY as Salt computes it
#                  (salt.utils.crypt.pem_finger: sha256 of the non-blank lines between the
#                  PEM armour lines, CRLF read as LF); "" when there is no such file
#   files          {PATH: {"mode": its octal mode, or "" when it does not exist,
#                          "sha1": the SHA-1 of its content, or "" when it is not a file}}
#                  for every PATH
#   units          {UNIT: {"active": systemctl is-active, "enabled": systemctl is-enabled}}
#                  for every UNIT (e.g. "inactive" and "not-found" for one that is not there)
set -eu
usage="usage: node_state.sh VENV KEY [PATH...] [-- UNIT...]"
venv=${1:?$usage}
key=${2:?$usage}
shift 2

json() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

version=""
if "$venv/bin/python" -c '' 2>/dev/null; then
    for meta in "$venv"/lib/python3*/site-packages/salt-*.dist-info/METADATA; do
        if [ -f "$meta" ]; then
            version=$(sed -n 's/^Version: *//p' "$meta" | head -n 1)
        fi
    done
fi

finger=""
if [ -f "$key" ]; then
    finger=$(grep -v '^[[:space:]]*$' "$key" | sed '1d;$d' | sed 's/\r$//' | sha256sum \
             | cut -c1-64 | sed 's/../&:/g; s/:$//')
fi

printf '{"salt_version": %s, "key_finger": %s, "files": {' "$(json "$version")" "$(json "$finger")"
sep=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do
    path=$1
    shift
    mode="" sum=""
    if [ -e "$path" ]; then
        mode=$(stat -c %a "$path")
    fi
    if [ -f "$path" ]; then
        sum=$(sha1sum < "$path" | cut -c1-40)
    fi
    printf '%s%s: {"mode": %s, "sha1": %s}' "$sep" "$(json "$path")" "$(json "$mode")" "$(json "$sum")"
    sep=", "
done
[ $# -gt 0 ] && shift
printf '}, "units": {'
sep=""
for unit do
    active=$(systemctl is-active "$unit" 2>/dev/null) || true
    enabled=$(systemctl is-enabled "$unit" 2>/dev/null) || true
    printf '%s%s: {"active": %s, "enabled": %s}' "$sep" "$(json "$unit")" "$(json "$active")" "$(json "$enabled")"
    sep=", "
done
printf '}}\n'

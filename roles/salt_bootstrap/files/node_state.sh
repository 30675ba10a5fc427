#!/bin/sh
# What salt_bootstrap reads from a node before it changes anything, in one go and
# without Python: a module run costs a node about a third of a second of CPU, this
# next to nothing, and the role would otherwise make several of them on every run.
#
# usage: node_state.sh VENV KEY [PATH...]
# prints one JSON object:
#   salt_version   the Salt release installed in the virtualenv VENV, from the package's
#                  metadata; "" when there is none, or when VENV's Python does not start
#   minion_finger  the fingerprint of the public key KEY as Salt computes it
#                  (salt.utils.crypt.pem_finger: sha256 of the non-blank lines between the
#                  PEM armour lines, CRLF read as LF); "" when there is no such file
#   files          {PATH: {"mode": its octal mode, or "" when it does not exist,
#                          "sha1": the SHA-1 of its content, or "" when it is not a file}}
#                  for every PATH
set -eu
usage="usage: node_state.sh VENV KEY [PATH...]"
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

printf '{"salt_version": %s, "minion_finger": %s, "files": {' "$(json "$version")" "$(json "$finger")"
sep=""
for path do
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
printf '}}\n'

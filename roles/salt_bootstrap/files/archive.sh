#!/bin/sh
# The role's one way to pack a directory into an archive and to unpack one (the
# wheelhouse and the states, on the controller, the nodes and the salt-master).
#
# usage: archive.sh pack ARCHIVE DIR
#          ARCHIVE = DIR's content, reproducible (sorted, mtime 0, owner root, modes
#          u+rw go+r go-w; hidden files at DIR's top, such as build markers, and
#          Python's __pycache__ left out): the same content gives the same bytes,
#          so a copy of it to a node changes nothing. Prints "changed" when
#          ARCHIVE is new or differs, else
#          "unchanged" (ARCHIVE is then not touched).
#        archive.sh unpack ARCHIVE DIR
#          DIR holds exactly ARCHIVE's content (files gone from it are removed),
#          unpacked beside DIR and moved into place. Files get the time of the
#          unpack, so a reader that caches by modification time sees the change.
set -eu
action=${1:?usage: archive.sh pack|unpack ARCHIVE DIR}
archive=${2:?usage: archive.sh pack|unpack ARCHIVE DIR}
dir=${3:?usage: archive.sh pack|unpack ARCHIVE DIR}

case $action in
    pack)
        # A temporary name of this run's own (its PID): two runs at once, two plays on one
        # controller, never write into one file, and the archive is replaced whole.
        new="$archive.new.$$"
        trap 'rm -f "$new"' EXIT
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rw,go+r,go-w \
            --exclude='./.*' --exclude=__pycache__ -C "$dir" -cf "$new" .
        if cmp -s "$new" "$archive"; then
            echo unchanged
        else
            mv -f "$new" "$archive"
            echo changed
        fi ;;
    unpack)
        new="$dir.new.$$"
        trap 'rm -rf "$new"' EXIT
        rm -rf "$new"
        mkdir -p "$new"
        tar -C "$new" --touch --no-same-owner -xf "$archive"
        rm -rf "$dir"
        mv "$new" "$dir" ;;
    *)
        echo "archive.sh: unknown action '$action' (pack or unpack)" >&2
        exit 2 ;;
esac

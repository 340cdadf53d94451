#!/bin/sh
# Checks that every relative link of the user documents points to a file
# that exists, and that a #fragment names a heading of its target (GitHub's
# anchors). Links inside ``` blocks and to other sites are not checked.
# Usage: docs_links.sh REPO_ROOT [FILE.md ...]
#   default files: README.md and docs/*.md
set -eu
root=$1
shift
cd "$root"
[ $# -gt 0 ] || set -- README.md docs/*.md

# the GitHub anchors of the headings of markdown file $1, one a line
anchors() {
    awk '/^```/ { code = !code; next }
         !code && /^#+ / { sub(/^#+ +/, ""); print }' "$1" |
        tr 'A-Z' 'a-z' | sed -e 's/[^a-z0-9 _-]//g' -e 's/ /-/g'
}

# the link targets of markdown file $1, outside code blocks, one a line
links() {
    awk '/^```/ { code = !code; next } !code' "$1" |
        grep -o '\]([^)]*)' | sed -e 's/^](//' -e 's/)$//' -e 's/ .*//' || true
}

bad=0
n=0
for doc in "$@"; do
    [ -f "$doc" ] || { echo "$doc: no such file" >&2; bad=1; continue; }
    dir=$(dirname "$doc")
    for link in $(links "$doc"); do
        case $link in
            http://* | https://* | mailto:*) continue ;;
        esac
        n=$((n + 1))
        path=${link%%#*}
        frag=
        case $link in *#*) frag=${link#*#} ;; esac
        if [ -z "$path" ]; then
            target=$doc
        else
            target=$dir/$path
        fi
        if [ ! -e "$target" ]; then
            echo "$doc: broken link $link (no $target)" >&2
            bad=1
        elif [ -n "$frag" ] && ! anchors "$target" | grep -qx -- "$frag"; then
            echo "$doc: broken link $link (no heading #$frag in $target)" >&2
            bad=1
        fi
    done
done
[ "$bad" = 0 ] || exit 1
echo "docs links: $n relative links ok"

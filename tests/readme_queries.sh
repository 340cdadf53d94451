#!/bin/sh
# Runs the README's sqlite3 query blocks verbatim against the file that the
# demo (conv_demo) writes. Usage: readme_queries.sh README CONV_DEMO BUILD_DIR WORK
set -eu
readme=$1 demo=$2 build=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
cd "$work"
"$demo" conv_demo.db >/dev/null
ln -s "$build" build
# the lines of the ```sql block following a marker comment in file $2
block() {
    awk -v m="<!-- readme-queries: $1 -->" '
        $0 == m { want = 1; next }
        want && /^```sql/ { inblock = 1; next }
        inblock && /^```/ { exit }
        inblock { print }' "$2"
}
block plain "$readme" > plain.sql
block extension "$(dirname "$readme")/tools/README-cli.md" > extension.sql
[ -s plain.sql ] || { echo "no plain query block in README" >&2; exit 1; }
[ -s extension.sql ] || { echo "no extension query block in tools/README-cli.md" >&2; exit 1; }
echo "== plain"
sqlite3 -bail conv_demo.db < plain.sql | tee plain.out
grep -q '^1|' plain.out
grep -q 'weights|float32|\[2,2,1,1\]' plain.out
grep -q '0x56615374' plain.out
if [ "${VS_SKIP_EXTENSION:-0}" = 1 ]; then
    echo "extension block skipped (sanitized build)"
else
    echo "== extension"
    sqlite3 -bail conv_demo.db < extension.sql | tee extension.out
    grep -q '^weights|[0-9]' extension.out
    grep -q '^\[\[\[\[' extension.out
fi
echo "readme queries: ok"

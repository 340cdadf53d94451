#!/usr/bin/env bash
# kill -9 stress of the `varstore` command: save, prune, rename and restore
# are started over and over on one file and killed at a random moment; after
# every kill the file must verify, hold every step it held before (or, for
# the command that was killed, its whole effect or none of it), and a
# restore's output must be complete or absent.
#
#   kill_stress.sh VARSTORE_BINARY [KILLS]      (default 400; CI runs fewer)
#
# `make stress` runs it with 400 kills. Prints one line per command with the
# kills that landed while it ran, and a closing "N passed, M failed" line.
set -u
VS=$1
KILLS=${2:-400}
export LC_ALL=C

TMP=$(mktemp -d "${VS_TEST_TMPDIR:-/tmp}/kill_stress.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

PASS=0
FAIL=0
fail() { echo "FAIL: $*" >&2; FAIL=$((FAIL + 1)); }

# npy FILE N: a float32 .npy of N random elements (header by the format).
npy() {
    local dict="{'descr': '<f4', 'fortran_order': False, 'shape': ($2,), }"
    local total=$((10 + ${#dict} + 1))
    local pad=$(((64 - total % 64) % 64))
    local hlen=$((${#dict} + 1 + pad))
    {
        printf '\x93NUMPY\x01\x00'
        printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
        printf '%s%*s\n' "$dict" "$pad" ''
        head -c $(($2 * 4)) /dev/urandom
    } >"$1"
}

# Two weight sets of about 6 MiB (a few 1 MiB chunks each, and small ones),
# and one of 42 MiB, whose saves commit in batches (docs/FORMAT.md §7).
for set in a b c; do
    mkdir -p "w$set/net/conv1" "w$set/net/conv2"
    npy "w$set/net/conv1/w.npy" $([ $set = c ] && echo 10485760 || echo 1048576)
    npy "w$set/net/conv2/w.npy" 524288
    npy "w$set/net/conv1/b.npy" 64
    npy "w$set/net/conv2/b.npy" 64
done

steps() { "$VS" inspect m.db --json 2>/dev/null | grep -o '"step": *[0-9]*' |
    grep -o '[0-9]*$' | sort -n | uniq | tr '\n' ' '; }
names() { "$VS" inspect m.db --json 2>/dev/null | grep -o '"name": *"[^"]*"' |
    sort | uniq | tr '\n' ' '; }

# The file is whole: verify passes.
check_file() {
    if ! "$VS" verify m.db >verify.txt 2>&1; then
        fail "after $1: verify failed: $(cat verify.txt)"
        return 1
    fi
    return 0
}

# A restore output is complete (equal to a fresh restore) or absent.
check_restore_out() {
    [ -e out ] || return 0
    rm -rf ref
    "$VS" restore m.db --npy ref >/dev/null 2>&1 || { fail "restore into ref"; return 1; }
    if ! diff -r out ref >/dev/null; then
        fail "a killed restore left an incomplete out/: $(diff -r out ref | head -3)"
        return 1
    fi
    return 0
}

# kill_during MAX_MS ARGS...: starts `varstore ARGS`, kills it after a
# random delay of up to MAX_MS milliseconds; returns 0 when the kill landed
# before it finished.
kill_during() {
    local max_ms=$1
    shift
    "$VS" "$@" >/dev/null 2>&1 &
    local pid=$!
    local wait_ms=$((RANDOM % max_ms))
    sleep "$(printf '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000)))"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        return 0
    fi
    wait "$pid" 2>/dev/null
    return 1
}

# ms COMMAND...: runs it, prints how many milliseconds it took (at least 2).
ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$VS" "$@" >/dev/null 2>&1 || { echo "setup: varstore $* failed" >&2; exit 1; }
    t1=$(date +%s%N)
    local d=$(((t1 - t0) / 1000000))
    [ "$d" -lt 2 ] && d=2
    echo "$d"
}

# The kill lands at a random moment within each command's own duration,
# measured here once.
T_SAVE=$(ms save m.db --step 1 --npy wa)
T_BIG=$(ms save m.db --step 2 --npy wc)
"$VS" save m.db --step 2 --npy wb >/dev/null || { echo "setup save failed"; exit 1; }
T_RESTORE=$(ms restore m.db --npy out0)
T_RENAME=$(ms rename m.db net/ model/)
"$VS" rename m.db model/ net/ >/dev/null || { echo "setup rename failed"; exit 1; }
"$VS" save m.db --step 3 --npy wa >/dev/null || { echo "setup save failed"; exit 1; }
T_PRUNE=$(ms prune m.db --keep 2)
rm -rf out0
next=4
declare -A landed=([save]=0 [prune]=0 [rename]=0 [restore]=0)
for ((k = 0; k < KILLS; k++)); do
    before=$(steps)
    case $((RANDOM % 4)) in
    0)  op=save
        src=wa; t=$T_SAVE; [ $((next % 2)) = 0 ] && src=wb
        [ $((next % 3)) = 0 ] && { src=wc; t=$T_BIG; }
        kill_during "$t" save m.db --step "$next" --npy "$src" && landed[save]=$((landed[save] + 1))
        check_file "save" || continue
        after=$(steps)
        if [ "$after" != "$before" ] && [ "$after" != "$before$next " ]; then
            fail "save of step $next: steps '$before' became '$after'"
            continue
        fi
        next=$((next + 1)) ;;
    1)  op=prune
        kill_during "$T_PRUNE" prune m.db --keep 2 && landed[prune]=$((landed[prune] + 1))
        check_file "prune" || continue
        after=$(steps)
        kept=$(echo "$before" | tr ' ' '\n' | grep . | tail -n 2 | tr '\n' ' ')
        if [ "$after" != "$before" ] && [ "$after" != "$kept" ]; then
            fail "prune: steps '$before' became '$after' (not all, not '$kept')"
            continue
        fi ;;
    2)  op=rename
        from=net/ to=model/
        case "$(names)" in *'"model/'*) from=model/ to=net/ ;; esac
        names_before=$(names)
        kill_during "$T_RENAME" rename m.db "$from" "$to" && landed[rename]=$((landed[rename] + 1))
        check_file "rename" || continue
        names_after=$(names)
        case "$names_after" in
        *"\"$from"*"\"$to"* | *"\"$to"*"\"$from"*)
            fail "rename $from -> $to half done: $names_after"; continue ;;
        esac
        [ -n "$names_after" ] || { fail "rename: no names left"; continue; }
        : "$names_before" ;;
    3)  op=restore
        rm -rf out ref .out.tmp-* 2>/dev/null
        kill_during "$T_RESTORE" restore m.db --npy out && landed[restore]=$((landed[restore] + 1))
        check_file "restore" || continue
        check_restore_out || continue ;;
    esac
    PASS=$((PASS + 1))
    # Keep the file from growing without end: retention by hand.
    if [ $((k % 25)) = 24 ]; then
        "$VS" prune m.db --keep 3 >/dev/null 2>&1 || fail "prune between rounds"
    fi
done

total=0
for op in save prune rename restore; do
    echo "kill_stress: $op killed mid-run ${landed[$op]} times"
    total=$((total + landed[$op]))
done
echo "kill_stress: $total of $KILLS kills landed while a command ran"
echo "kill_stress: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

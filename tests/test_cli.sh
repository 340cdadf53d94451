#!/usr/bin/env bash
# End-to-end tests of the `varstore` command, driven by CTest:
#   test_cli.sh VARSTORE_BINARY [EXTENSION_PATH] [SQLITE3_SHELL]
# .npy and safetensors inputs are written here byte by byte from the
# published formats (printf), never by varstore's own writers.
set -u
VS=$1
EXT=${2:-}
SQLITE=${3:-}
export LC_ALL=C

TMP=$(mktemp -d "${VS_TEST_TMPDIR:-/tmp}/test_cli.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1

FAILS=0
CHECKS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); }

# run EXPECTED_STATUS cmd...: runs varstore, keeping stdout in out.txt and
# stderr in err.txt, and checks the exit status.
run() {
    local want=$1
    shift
    "$VS" "$@" >out.txt 2>err.txt
    local got=$?
    if [ "$got" != "$want" ]; then
        fail "varstore $* exited $got, expected $want; stderr: $(cat err.txt)"
    else
        ok
    fi
}
# has FILE TEXT: FILE contains the fixed string TEXT.
has() {
    if grep -qF -- "$2" "$1"; then ok; else
        fail "$1 lacks '$2': $(head -c 2000 "$1")"
    fi
}
hasnt() {
    if grep -qF -- "$2" "$1"; then fail "$1 has '$2'"; else ok; fi
}
same() {
    if cmp -s "$1" "$2"; then ok; else fail "$1 and $2 differ"; fi
}
equals() {
    if [ "$1" = "$2" ]; then ok; else fail "got '$1', expected '$2'"; fi
}

# npy FILE DICT DATA: a .npy 1.0 file: magic, version, 2-byte LE header
# length, DICT padded with spaces and '\n' to a multiple of 64, then DATA
# (printf escapes).
npy() {
    local dict=$2
    local total=$((10 + ${#dict} + 1))
    local pad=$(((64 - total % 64) % 64))
    local hlen=$((${#dict} + 1 + pad))
    {
        printf '\x93NUMPY\x01\x00'
        printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
        printf '%s' "$dict"
        printf '%*s' "$pad" ''
        printf '\n'
        printf "$3"
    } >"$1"
}
# st FILE HEADER DATA: a safetensors file: 8-byte LE header length, the
# header padded with spaces to a multiple of 8, then DATA (printf escapes).
st() {
    local hdr=$2
    local pad=$(((8 - ${#hdr} % 8) % 8))
    local hlen=$((${#hdr} + pad))
    {
        printf "\\x$(printf %02x $((hlen & 255)))\\x$(printf %02x $((hlen >> 8)))"
        printf '\x00\x00\x00\x00\x00\x00'
        printf '%s' "$hdr"
        printf '%*s' "$pad" ''
        printf "$3"
    } >"$1"
}
F="'fortran_order': False"

# ---- help and usage --------------------------------------------------------
run 0 --help
has out.txt "usage: varstore <command>"
has out.txt "example:"
for c in inspect save restore diff verify prune rename compact; do
    run 0 "$c" --help
    has out.txt "usage: varstore $c"
    has out.txt "example"
    equals "$(wc -c <err.txt)" 0
    run 0 help "$c"
    has out.txt "usage: varstore $c"
done
run 0 --version
has out.txt "varstore "
run 2
has err.txt "varstore: missing command"
run 2 frobnicate
has err.txt "varstore: unknown command 'frobnicate'"
run 2 inspect
has err.txt "varstore: inspect needs a FILE"
run 2 inspect m.db --bogus
has err.txt "varstore: unknown option '--bogus'"
run 2 save m.db --npy d
has err.txt "varstore: save needs --step N"
run 2 save m.db --step x --npy d
has err.txt "varstore: --step needs a non-negative integer"
run 2 save m.db --step 1 --npy d --safetensors s
has err.txt "exactly one of --npy DIR, --safetensors SRC and --tf-checkpoint TF"
run 2 restore m.db
run 2 diff m.db
run 2 prune m.db
has err.txt "varstore: prune needs --keep N"
run 2 prune m.db --keep 0
run 2 rename m.db a/
run 1 inspect missing.db
has err.txt "varstore: cannot open 'missing.db': No such file or directory"
[ ! -e missing.db ] && ok || fail "inspect created missing.db"
run 1 verify missing.db

echo "not a database" >notdb
run 1 inspect notdb
has err.txt "varstore: notdb is not a varstore checkpoint file"
run 1 verify notdb
has err.txt "notdb"

# ---- inputs written byte by byte ------------------------------------------
mkdir -p w/conv1 w/other
# float32 (2, 3): 1 2 3 / -0.5 0.25 1e-3
npy w/conv1/weights.npy "{'descr': '<f4', $F, 'shape': (2, 3), }" \
    '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x00\xbf\x00\x00\x80\x3e\x6f\x12\x83\x3a'
npy w/conv1/biases.npy "{'descr': '<f4', $F, 'shape': (2,), }" \
    '\x00\x00\x00\x3f\x00\x00\xc0\x7f'
npy w/steps.npy "{'descr': '<i8', $F, 'shape': (3,), }" \
    '\x07\x00\x00\x00\x00\x00\x00\x00\xf8\xff\xff\xff\xff\xff\xff\xff\x09\x00\x00\x00\x00\x00\x00\x00'
npy w/mask.npy "{'descr': '|b1', $F, 'shape': (2, 2), }" '\x01\x00\x00\x01'
npy w/half.npy "{'descr': '<f2', $F, 'shape': (2,), }" '\x00\x3e\x80\x40'
npy w/other/scalar.npy "{'descr': '<f8', $F, 'shape': (), }" \
    '\x00\x00\x00\x00\x00\x00\xf8\x3f'
# 16 incompressible uint8 bytes (stored verbatim: used to corrupt the file)
npy w/other/key.npy "{'descr': '|u1', $F, 'shape': (16,), }" \
    '\x11\x93\x27\xc4\x5a\xe1\x08\x7d\xb2\x3f\x66\xd9\x40\x1c\xf5\x8e'
# big-endian int32 (2,) = 258, -2 and its little-endian twin
npy w/be.npy "{'descr': '>i4', $F, 'shape': (2,), }" '\x00\x00\x01\x02\xff\xff\xff\xfe'
npy be_le.npy "{'descr': '<i4', $F, 'shape': (2,), }" '\x02\x01\x00\x00\xfe\xff\xff\xff'
# Fortran-ordered int8 (2, 3) [[0,1,2],[3,4,5]] and its C-order twin
npy w/fort.npy "{'descr': '|i1', 'fortran_order': True, 'shape': (2, 3), }" \
    '\x00\x03\x01\x04\x02\x05'
npy fort_c.npy "{'descr': '|i1', $F, 'shape': (2, 3), }" '\x00\x01\x02\x03\x04\x05'
echo "not a tensor" >w/README.txt

# ---- save, inspect ---------------------------------------------------------
run 0 save m.db --step 10 --npy w
has out.txt "saved 9 tensors"
run 0 inspect m.db --all-tensor-names
equals "$(tr '\n' ' ' <out.txt)" "be conv1/biases conv1/weights fort half mask other/key other/scalar steps "
run 0 inspect m.db
has out.txt "journal: rollback"
has out.txt "checkpoints: 1"
has out.txt "step 10: 9 tensors"
has out.txt "conv1/weights"
has out.txt "(2, 3)"
run 0 inspect m.db --tensor=steps --step=10
has out.txt "[ 7 -8  9]"
run 0 inspect m.db --tensor conv1/weights
# NumPy's str(): scientific, as max/min > 1e3
has out.txt "[[ 1.0e+00  2.0e+00  3.0e+00]"
has out.txt " [-5.0e-01  2.5e-01  1.0e-03]]"
run 0 inspect m.db --tensor mask --tensor half --tensor fort --tensor other/scalar
has out.txt "[[ True False]"
has out.txt "[1.5  2.25]"
has out.txt "[[0 1 2]"
has out.txt " [3 4 5]]"
has out.txt "1.5"
run 0 inspect m.db --tensor conv1/biases --stats
has out.txt "[0.5 nan]"
has out.txt "nan 1"
# The tables' columns are sized to their content: the largest step and a
# 13-character min still line up under their headings (they pushed every
# column after them to the right before).
# ends FILE LINE_A TEXT_A LINE_B TEXT_B: the last TEXT_A of line LINE_A
# of FILE ends at the column where the last TEXT_B of line LINE_B ends.
ends() {
    local a b prog='{ e = 0; for (i = 1; i + length(t) - 1 <= length($0); i++)
        if (substr($0, i, length(t)) == t) e = i + length(t); print e }'
    a=$(sed -n "$2p" "$1" | awk -v t="$3" "$prog")
    b=$(sed -n "$4p" "$1" | awk -v t="$5" "$prog")
    if [ "$a" = "$b" ] && [ "$a" -gt 1 ]; then ok; else
        fail "'$3' ends at $a, '$5' at $b: $(cat "$1")"
    fi
}
mkdir -p wide
npy wide/x.npy "{'descr': '<f8', $F, 'shape': (2,), }" \
    '\023\250\321\236\335\371\345\377\000\000\000\000\000\000\024\100'
run 0 save wide.db --step 9223372036854775807 --npy wide
run 0 save wide.db --step 3 --npy wide
run 0 inspect wide.db --step 9223372036854775807 --stats
has out.txt "-1.23457e+308"
# lines 4-6 the checkpoints, 9-10 the tensors
ends out.txt 4 step 6 9223372036854775807
ends out.txt 4 step 5 " 3"
ends out.txt 4 stored 6 "16 B"
ends out.txt 9 min 10 -1.23457e+308
ends out.txt 9 max 10 " 5"
ends out.txt 9 inf 10 " 0"
equals "$(sed -n 4,6p out.txt | awk '{ print length($0) }' | sort -u | wc -l)" 1
equals "$(sed -n 9,10p out.txt | awk '{ print length($0) }' | sort -u | wc -l)" 1

# --codec and --journal: a raw, rollback-journal copy restores the same bytes
run 0 save r.db --step 1 --npy w --codec raw --journal rollback
has out.txt "saved 9 tensors"
run 0 inspect r.db
has out.txt "journal: rollback"
hasnt out.txt "shuffle-zlib"
[ ! -e r.db-journal ] && [ ! -e r.db-wal ] && ok || fail "r.db is not one file at rest"
run 0 restore r.db --npy r_out
run 0 restore m.db --npy m_out
for f in conv1/weights steps half fort mask other/scalar; do same "m_out/$f.npy" "r_out/$f.npy"; done
run 0 save r.db --step 2 --npy w --journal wal
run 0 inspect r.db --json
has out.txt '"journal":"wal"'
run 2 save r.db --step 3 --npy w --codec zip
has err.txt "varstore: --codec needs raw or shuffle-zlib"
run 2 save r.db --step 3 --npy w --journal off
has err.txt "varstore: --journal needs wal or rollback"
run 0 inspect r.db --step 1
hasnt out.txt "shuffle-zlib"

run 1 inspect m.db --tensor nope
has err.txt "varstore: tensor 'nope' not found in step 10 of m.db"
run 1 inspect m.db --step 99
has err.txt "varstore: m.db has no checkpoint at step 99"

# --json, parsed back
run 0 inspect m.db --json --stats --tensor conv1/weights --tensor mask
cp out.txt j.json
if [ -n "$SQLITE" ]; then
    q() { "$SQLITE" :memory: "$1"; }
    equals "$(q "select json_valid(readfile('j.json'))")" 1
    equals "$(q "select json_extract(readfile('j.json'), '\$.step')")" 10
    equals "$(q "select json_array_length(readfile('j.json'), '\$.tensors')")" 9
    equals "$(q "select json_extract(value, '\$.values') from json_each(readfile('j.json'), '\$.tensors') where json_extract(value, '\$.name') = 'conv1/weights'")" \
        "[[1,2,3],[-0.5,0.25,0.001]]"
    equals "$(q "select json_extract(value, '\$.values') from json_each(readfile('j.json'), '\$.tensors') where json_extract(value, '\$.name') = 'mask'")" \
        "[[true,false],[false,true]]"
    equals "$(q "select json_extract(value, '\$.shape') || json_extract(value, '\$.dtype') from json_each(readfile('j.json'), '\$.tensors') where json_extract(value, '\$.name') = 'fort'")" \
        "[2,3]int8"
    equals "$(q "select json_extract(value, '\$.stats.n_nan') from json_each(readfile('j.json'), '\$.tensors') where json_extract(value, '\$.name') = 'conv1/biases'")" 1
elif command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(open("j.json")); assert d["step"]==10 and len(d["tensors"])==9' && ok || fail "json"
else
    echo "note: no sqlite3 shell or python3: --json only checked for shape" >&2
    has j.json '"tensors":['
fi

# ---- restore --npy: bit-exact ---------------------------------------------
run 0 restore m.db --npy out
has out.txt "restored 9 tensors of step 10 to out"
for f in conv1/weights conv1/biases steps mask half other/scalar other/key; do
    same "w/$f.npy" "out/$f.npy"
done
same be_le.npy out/be.npy
same fort_c.npy out/fort.npy
# into an existing folder: only an empty one (it is replaced by the new
# tree); one that holds anything is refused before anything is written,
# and left exactly as it was (issue 13: nothing is overwritten silently)
mkdir out1
run 0 restore m.db --npy out1/
for f in conv1/weights conv1/biases steps mask half other/scalar other/key be fort; do
    same "out/$f.npy" "out1/$f.npy"
done
mkdir -p full/conv1
echo old >full/conv1/weights.npy
run 1 restore m.db --npy full
equals "$(cat err.txt)" "varstore: 'full' is not empty: restore --npy writes into a new or empty directory (nothing is overwritten)"
equals "$(cd full && find . -type f)" "./conv1/weights.npy"
equals "$(cat full/conv1/weights.npy)" "old"
[ ! -e out/README.txt ] && ok || fail "README.txt exported"
equals "$(cd out && find . -type f | sort | tr '\n' ' ')" \
    "./be.npy ./conv1/biases.npy ./conv1/weights.npy ./fort.npy ./half.npy ./mask.npy ./other/key.npy ./other/scalar.npy ./steps.npy "
# the checkpoint file itself (by another name too) is never the output
cp m.db m_copy.db
ln -s m_copy.db m_link.db
run 1 restore m_copy.db --safetensors m_link.db
equals "$(cat err.txt)" "varstore: 'm_link.db' is the checkpoint file m_copy.db itself (or its -wal or -shm file): it is not overwritten"
same m.db m_copy.db
# an output that is a folder: refused before anything is read
mkdir stdir
run 1 restore m.db --safetensors stdir
equals "$(cat err.txt)" "varstore: cannot write 'stdir': Is a directory"
# --safetensors streams into a temporary file renamed at the end: into a
# folder that does not exist, a clear error and nothing written
run 1 restore m.db --safetensors nodir/x.st
equals "$(cat err.txt)" "varstore: cannot create a file beside 'nodir/x.st': No such file or directory"
[ ! -e nodir ] && ok || fail "restore --safetensors created nodir"
# symbolic links (issue 13): nothing is ever written outside DIR. A link
# inside DIR (a folder or a file of the export) makes DIR non-empty: it is
# refused and nothing is written where the link points; DIR itself a link
# is refused too.
mkdir elsewhere
echo victim >elsewhere/victim
mkdir lnk1 lnk2
ln -s ../elsewhere lnk1/conv1
ln -s ../elsewhere/victim lnk2/steps.npy
for d in lnk1 lnk2; do
    run 1 restore m.db --npy $d
    has err.txt "varstore: '$d' is not empty"
done
ln -s elsewhere lnk3
run 1 restore m.db --npy lnk3
equals "$(cat err.txt)" "varstore: 'lnk3' is a symbolic link: restore --npy writes only into a new or empty directory"
equals "$(cd elsewhere && find . | sort | tr '\n' ' ')" ". ./victim "
equals "$(cat elsewhere/victim)" "victim"
# a file where the folder must go: refused, nothing made
echo x >afile
run 1 restore m.db --npy afile
equals "$(cat err.txt)" "varstore: 'afile' exists and is not a directory"
equals "$(cat afile)" "x"
# a folder whose parent does not exist: a clear error, nothing made
run 1 restore m.db --npy nodir2/out
equals "$(cat err.txt)" "varstore: cannot create directory 'nodir2/out': No such file or directory"
[ ! -e nodir2 ] && ok || fail "restore --npy created nodir2"
# --safetensors onto a symbolic link: the link is replaced by the new
# file, never written through
ln -s elsewhere/victim st_link.st
run 0 restore m.db --safetensors st_link.st
[ -f st_link.st ] && [ ! -L st_link.st ] && ok || fail "st_link.st is still a link"
equals "$(cat elsewhere/victim)" "victim"
run 0 restore m.db --npy sel --tensor conv1/weights --tensor steps
same w/conv1/weights.npy sel/conv1/weights.npy
equals "$(cd sel && find . -type f | sort | tr '\n' ' ')" "./conv1/weights.npy ./steps.npy "
run 1 restore m.db --npy sel2 --tensor nope
has err.txt "varstore: tensor 'nope' not found in step 10 of m.db"

# ---- hostile inputs: refused, nothing written -----------------------------
mkdir bad
npy bad/a.npy "{'descr': '<f4', $F, 'shape': (2,), }" '\x00\x00\x80\x3f\x00\x00'
run 1 save m.db --step 11 --npy bad
has err.txt "bad/a.npy: shape (2,) of float32 needs 8 data bytes but the file has 6"
npy bad/a.npy "{'descr': '<c8', $F, 'shape': (1,), }" '\x00\x00\x80\x3f\x00\x00\x00\x00'
run 1 save m.db --step 11 --npy bad
has err.txt "dtype '<c8' is not supported"
printf '\x93NUMPY\x01\x00\xff\x7f{' >bad/a.npy
run 1 save m.db --step 11 --npy bad
has err.txt "header length 32767 goes beyond the end of the file (11 bytes)"
st bad.st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' \
    '\x00\x00\x80\x3f\x00\x00\x80\x3f'
run 1 save m.db --step 11 --safetensors bad.st
has err.txt "varstore: bad.st: tensors 'a' and 'b' overlap in the data section"
st bad.st '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}' \
    '\x00\x00\x80\x3f\x00\x00\x80\x3f'
run 1 save m.db --step 11 --safetensors bad.st
has err.txt "varstore: bad.st: duplicate tensor name 'a'"
printf '\x00\x00\x00\x10\x00\x00\x00\x00{}' >bad.st
run 1 save m.db --step 11 --safetensors bad.st
has err.txt "header length 268435456 exceeds the 100 MB limit"
run 0 inspect m.db
has out.txt "checkpoints: 1"
run 1 save fresh.db --step 1 --safetensors bad.st
[ ! -e fresh.db ] && ok || fail "a refused import created fresh.db"
run 1 save fresh.db --step 1 --npy bad
[ ! -e fresh.db ] && ok || fail "a refused import created fresh.db"
# In an --npy tree, a broken or looping symbolic link under another name
# than *.npy holds no file: ignored like any other file. A *.npy that is
# not a regular file (a FIFO) is an error, never silently left out.
mkdir npyodd
cp w/steps.npy npyodd/steps.npy
ln -s nowhere npyodd/notes.txt
ln -s loop npyodd/loop
run 0 save odd.db --step 1 --npy npyodd
has out.txt "saved 1 tensors (24 B) as step 1 in odd.db"
if command -v mkfifo >/dev/null 2>&1; then
    mkfifo npyodd/pipe.npy
    run 1 save odd.db --step 2 --npy npyodd
    equals "$(cat err.txt)" "varstore: 'npyodd/pipe.npy' is not a regular file"
fi

# ---- safetensors in and out -----------------------------------------------
# BF16 (2,) = 1.0, -2.0; I32 (2,); F64 (1,) = 0.25; names out of order
st in.st '{"__metadata__":{"format":"pt"},"z/bf":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"a/i":{"dtype":"I32","shape":[2],"data_offsets":[4,12]},"a/d":{"dtype":"F64","shape":[1],"data_offsets":[12,20]}}' \
    '\x80\x3f\x00\xc0\x05\x00\x00\x00\xfb\xff\xff\xff\x00\x00\x00\x00\x00\x00\xd0\x3f'
run 0 save m.db --step 20 --safetensors in.st --prefix imported
has out.txt "saved 3 tensors"
run 0 inspect m.db --all-tensor-names
equals "$(tr '\n' ' ' <out.txt)" "imported/a/d imported/a/i imported/z/bf "
run 0 inspect m.db --tensor imported/z/bf
has out.txt "dtype: bfloat16"
has out.txt "[ 1. -2.]"
run 0 restore m.db --safetensors out.st
has out.txt "restored 3 tensors of step 20 to out.st"
# exactly the published layout, names sorted, the step in __metadata__
st want.st '{"__metadata__":{"format":"varstore","step":"20"},"imported/a/d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"imported/a/i":{"dtype":"I32","shape":[2],"data_offsets":[8,16]},"imported/z/bf":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}}' \
    '\x00\x00\x00\x00\x00\x00\xd0\x3f\x05\x00\x00\x00\xfb\xff\xff\xff\x80\x3f\x00\xc0'
same want.st out.st
# created as fopen would (0666 less the umask), not mkstemp's 0600, and no
# temporary file left beside it
(umask 022 && "$VS" restore m.db --step 20 --safetensors perm.st >/dev/null) || fail "restore perm.st"
equals "$(stat -c %a perm.st)" "644"
same want.st perm.st
equals "$(ls | grep -c '\.tmp-')" "0"
run 0 save m.db --step 21 --safetensors out.st
run 0 diff m.db 20 21
has out.txt "0 added, 0 removed, 0 changed, 3 unchanged"
# A save into a new file builds it aside as FILE.vs-new-<pid>-<n>. A
# name left there by a killed run whose pid this run has again (pid
# reuse, as in containers) is not this run's: a file there is neither
# opened nor removed, and a symbolic link there is never written
# through. ($BASHPID is the pid that exec hands on to varstore.)
mkdir -p aside/elsewhere
(echo junk >"aside/j.db.vs-new-$BASHPID-0" &&
    exec "$VS" save aside/j.db --step 1 --npy w >out.txt 2>err.txt) &&
    ok || fail "a leftover aside file failed the save: $(cat err.txt)"
equals "$(cat aside/j.db.vs-new-*-0)" "junk"
(ln -s elsewhere/target.db "aside/l.db.vs-new-$BASHPID-0" &&
    exec "$VS" save aside/l.db --step 1 --npy w >out.txt 2>err.txt) &&
    ok || fail "a leftover aside link failed the save: $(cat err.txt)"
[ ! -e aside/elsewhere/target.db ] && ok ||
    fail "the save wrote through a link beside its file"
run 0 verify aside/l.db

# A TF checkpoint whose index declares four uint8 tensors of 2^62
# bytes (an empty data file): refused by the listing, before any plan is
# made (their sizes never summed, nor overflowed).
mkdir -p tfhuge
printf '\000\000\006\010\001\032\002\010\001\000\001\037\141\010\004\022\014\022\012\010\200\200\200\200\200\200\200\200\100\050\200\200\200\200\200\200\200\200\100\065\000\000\000\000\000\001\037\142\010\004\022\014\022\012\010\200\200\200\200\200\200\200\200\100\050\200\200\200\200\200\200\200\200\100\065\000\000\000\000\000\001\037\143\010\004\022\014\022\012\010\200\200\200\200\200\200\200\200\100\050\200\200\200\200\200\200\200\200\100\065\000\000\000\000\000\001\037\144\010\004\022\014\022\012\010\200\200\200\200\200\200\200\200\100\050\200\200\200\200\200\200\200\200\100\065\000\000\000\000\000\000\000\000\001\000\000\000\000\043\152\144\271\000\000\000\000\001\000\000\000\000\300\362\241\260\000\002\003\144\377\000\235\001\000\000\000\000\001\000\000\000\000\032\001\251\342\242\001\010\257\001\020\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\127\373\200\213\044\165\107\333' >tfhuge/m.index
: >tfhuge/m.data-00000-of-00001
run 1 save tfhuge.db --step 1 --tf-checkpoint tfhuge/m
equals "$(cat err.txt)" "varstore: tfhuge/m.data-00000-of-00001: Read less bytes than requested: tensor 'a' is 4611686018427387904 bytes at offset 0, the file holds 0"
[ ! -e tfhuge.db ] && ok || fail "a refused TF input created tfhuge.db"
# One tensor 'v' of 2^62 bytes whose data file holds 8: its declared size
# is checked against the file before anything is allocated for it (the
# save's plan ran out of memory before, and aborted under ASan).
printf '\000\000\006\010\001\032\002\010\001\000\001\032\166\010\004\022\014\022\012\010\200\200\200\200\200\200\200\200\100\050\200\200\200\200\200\200\200\200\100\000\000\000\000\001\000\000\000\000\360\131\275\313\000\000\000\000\001\000\000\000\000\300\362\241\260\000\001\002\167\000\057\000\000\000\000\001\000\000\000\000\374\062\222\253\064\010\101\016\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\127\373\200\213\044\165\107\333' >tfhuge/one.index
printf '\000\000\000\000\000\000\000\000' >tfhuge/one.data-00000-of-00001
run 1 save tfhuge.db --step 1 --tf-checkpoint tfhuge/one
equals "$(cat err.txt)" "varstore: tfhuge/one.data-00000-of-00001: Read less bytes than requested: tensor 'v' is 4611686018427387904 bytes at offset 0, the file holds 8"
[ ! -e tfhuge.db ] && ok || fail "a refused TF input created tfhuge.db"
run 1 inspect tfhuge/one
has err.txt "Read less bytes than requested"
# ---- several steps in one command ------------------------------------------
# The k-th --step goes with the k-th source; each is its own checkpoint,
# written in the background while the next source is read.
run 0 save ms.db --step 5 --npy w --step 6 --safetensors out.st
has out.txt "saved 9 tensors"
has out.txt "as step 5 in ms.db"
has out.txt "saved 3 tensors"
has out.txt "as step 6 in ms.db"
run 0 inspect ms.db
has out.txt "checkpoints: 2"
run 0 restore ms.db --step 5 --npy ms5
for f in conv1/weights steps half fort mask other/scalar; do same "m_out/$f.npy" "ms5/$f.npy"; done
run 0 restore m.db --step 20 --npy o20
run 0 restore ms.db --step 6 --npy ms6
for f in imported/a/d imported/a/i imported/z/bf; do same "o20/$f.npy" "ms6/$f.npy"; done
# replacing a step says so, for each step
run 0 save ms.db --step 6 --npy w --step 7 --npy w
has out.txt "replaced the checkpoint that was step 6"
has out.txt "as step 7 in ms.db"
run 2 save ms2.db --step 1 --step 2 --npy w
has err.txt "each --step needs its own source (--npy, --safetensors or --tf-checkpoint); steps: 2, sources: 1"
run 2 save ms2.db --step 1 --npy w --step 1 --safetensors out.st
has err.txt "varstore: step 1 is given twice"
[ ! -e ms2.db ] && ok || fail "a refused command created ms2.db"
# --prefix, --codec and --journal apply to every step: given twice (as if
# per step), they are refused rather than the last silently applied to all
run 2 save ms2.db --step 1 --prefix a --npy w --step 2 --prefix b --npy w
has err.txt "varstore: --prefix is given twice (one applies to every step)"
run 2 save ms2.db --step 1 --npy w --codec raw --step 2 --npy w --codec shuffle-zlib
has err.txt "varstore: --codec is given twice (one applies to every step)"
run 2 save ms2.db --step 1 --npy w --journal wal --journal rollback
has err.txt "varstore: --journal is given twice (one applies to every step)"
[ ! -e ms2.db ] && ok || fail "a refused command created ms2.db"
# The first failure stops the run; the steps before it stay saved.
run 1 save ms3.db --step 1 --npy w --step 2 --npy bad --step 3 --npy w
has out.txt "as step 1 in ms3.db"
# the input's error names its step (read while step 1 was written)
equals "$(cat err.txt)" "varstore: step 2: bad/a.npy: header length 32767 goes beyond the end of the file (11 bytes)"
hasnt out.txt "as step 3"
run 0 inspect ms3.db
has out.txt "checkpoints: 1"
# A save that fails (here in the background) is named by its step, once:
# the library's message names the file.
mkdir -p msdir.db
run 1 save msdir.db --step 7 --npy w --step 8 --npy w
equals "$(cat err.txt)" "varstore: step 7: msdir.db is not a varstore checkpoint file: not a regular file"
hasnt out.txt "as step"
# ... also when the next input, read while it failed, is bad too: only
# the first failure (step 7's) is printed, not the bad input's as well.
run 1 save msdir.db --step 7 --npy w --step 8 --npy missing
equals "$(cat err.txt)" "varstore: step 7: msdir.db is not a varstore checkpoint file: not a regular file"
hasnt out.txt "as step"
# and a bad input after a step that lands is printed after its line
run 1 save ms7.db --step 7 --npy w --step 8 --npy missing
has out.txt "as step 7 in ms7.db"
equals "$(cat err.txt)" "varstore: step 8: cannot open directory 'missing': No such file or directory"
# A bad first input writes nothing, as with one step: not even the
# journal mode --journal asks for.
run 1 save ms6.db --journal wal --step 1 --npy missing --step 2 --npy w
has err.txt "cannot open directory 'missing'"
[ ! -e ms6.db ] && ok || fail "a bad first input created ms6.db"
run 1 save ms3.db --journal wal --step 4 --npy missing --step 5 --npy w
run 0 inspect ms3.db
has out.txt "journal: rollback"
# "replaced" is said of a step that is there when that step is saved: a
# retention of one checkpoint deletes step 2 as step 5 (14 MiB, written
# in the background while step 2's input is read) lands, so step 2 is
# then saved anew, as two commands would save it.
if [ -n "$SQLITE" ]; then
    mkdir -p mid
    npy mid/r.npy "{'descr': '<f4', $F, 'shape': (3670016,), }" ''
    head -c 14680064 /dev/urandom >>mid/r.npy
    run 0 save ms7.db --step 2 --npy w
    "$SQLITE" ms7.db "INSERT OR REPLACE INTO meta(key, value) VALUES ('max_to_keep', 1)"
    run 0 save ms7.db --step 5 --npy mid --step 2 --npy w
    has out.txt "as step 2 in ms7.db"
    hasnt out.txt "replaced the checkpoint that was step 2"
fi
# An input over 16 MiB streams between two read whole: 17 MiB of zeros.
mkdir -p big
npy big/z.npy "{'descr': '<f4', $F, 'shape': (4456448,), }" ''
head -c 17825792 /dev/zero >>big/z.npy
run 0 save ms4.db --step 1 --npy w --step 2 --npy big --step 3 --npy w
has out.txt "saved 1 tensors (17.0 MiB) as step 2 in ms4.db"
has out.txt "as step 3 in ms4.db"
run 0 inspect ms4.db
has out.txt "checkpoints: 3"
run 0 restore ms4.db --step 2 --npy ms4b
same big/z.npy ms4b/z.npy
# A safetensors input over 16 MiB is read on every core (one file, read
# at offsets): the same bytes come back (random bytes: a chunk read into
# the wrong place would show).
st bigst.st '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"z":{"dtype":"F32","shape":[4456448],"data_offsets":[16,17825808]}}' \
    '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40'
head -c 17825792 /dev/urandom >>bigst.st
run 0 save ms5.db --step 1 --safetensors bigst.st --codec raw
has out.txt "saved 2 tensors (17.0 MiB) as step 1 in ms5.db"
run 0 restore ms5.db --safetensors ms5.st
cmp -s <(tail -c 17825808 bigst.st) <(tail -c 17825808 ms5.st) && ok || fail "ms5.st's data differs from bigst.st's"
# Each step's line is written as the step lands, not when the command
# ends (stdout here is a file, which the C library buffers): a command
# killed during a later step has reported every step it saved. Step 2
# streams 64 GiB of zeros (a sparse file), far longer than step 1 takes.
if command -v truncate >/dev/null 2>&1; then
    st sparse.st '{"z":{"dtype":"U8","shape":[68719476736],"data_offsets":[0,68719476736]}}' ''
    truncate -s +68719476736 sparse.st
    "$VS" save ms6.db --step 1 --npy w --step 2 --safetensors sparse.st \
        >out.txt 2>err.txt &
    pid=$!
    for _ in $(seq 300); do
        grep -qF "as step 1 in ms6.db" out.txt && break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    has out.txt "saved 9 tensors (102 B) as step 1 in ms6.db"
    hasnt out.txt "as step 2"
    run 0 verify ms6.db
    run 0 restore ms6.db --step 1 --npy ms6o
    for f in conv1/weights steps half fort mask other/scalar; do same "m_out/$f.npy" "ms6o/$f.npy"; done
    rm -f sparse.st
fi

# a name that really ends in ":0" (TF would strip it) is its own tensor
st colon.st '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a:0":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' \
    '\x00\x00\x80\x3f\x00\x00\x00\x40'
run 0 save c0.db --step 1 --safetensors colon.st
run 0 restore c0.db --safetensors colon_out.st
st colon_want.st '{"__metadata__":{"format":"varstore","step":"1"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a:0":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' \
    '\x00\x00\x80\x3f\x00\x00\x00\x40'
same colon_want.st colon_out.st
run 0 restore c0.db --npy colon_npy
npy colon_a.npy "{'descr': '<f4', $F, 'shape': (1,), }" '\x00\x00\x80\x3f'
npy colon_a0.npy "{'descr': '<f4', $F, 'shape': (1,), }" '\x00\x00\x00\x40'
same colon_a.npy colon_npy/a.npy
same colon_a0.npy "colon_npy/a:0.npy"
# bfloat16 to .npy: widened to float32, exact, with a note
run 0 restore m.db --step 20 --npy bf --tensor imported/z/bf
has err.txt "varstore: note: bfloat16 tensor 'imported/z/bf' written as float32"
npy bf_want.npy "{'descr': '<f4', $F, 'shape': (2,), }" '\x00\x00\x80\x3f\x00\x00\x00\xc0'
same bf_want.npy bf/imported/z/bf.npy
# an empty tensor name is refused before anything is written, naming the
# file (and, in a run of several steps, nothing of its step is saved);
# with --prefix it is a name like any other
st empty.st '{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' '\x01'
run 1 save en.db --step 1 --safetensors empty.st
equals "$(cat err.txt)" "varstore: empty.st: a tensor has an empty name (checkpoint keys are not empty)"
[ ! -e en.db ] && ok || fail "a refused import created en.db"
run 1 save en.db --step 1 --npy w --step 2 --safetensors empty.st
has err.txt "varstore: step 2: empty.st: a tensor has an empty name"
has out.txt "as step 1 in en.db"
run 0 save en.db --step 3 --safetensors empty.st --prefix p
has out.txt "as step 3 in en.db"
# a name that would escape the output folder is refused
st evil.st '{"../evil":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' '\x01'
if "$VS" save e.db --step 1 --safetensors evil.st >/dev/null 2>&1; then
    run 1 restore e.db --npy safe
    has err.txt "cannot be written as a file under 'safe'"
    [ ! -e evil.npy ] && [ ! -e safe ] && ok || fail "a file escaped"
fi

# ---- diff -------------------------------------------------------------------
mkdir w2
npy w2/steps.npy "{'descr': '<i8', $F, 'shape': (3,), }" \
    '\x07\x00\x00\x00\x00\x00\x00\x00\xf8\xff\xff\xff\xff\xff\xff\xff\x0b\x00\x00\x00\x00\x00\x00\x00'
# weights: 1 2 3 / -0.5 0.25 2e-3 (last element doubled)
mkdir -p w2/conv1
npy w2/conv1/weights.npy "{'descr': '<f4', $F, 'shape': (2, 3), }" \
    '\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x00\xbf\x00\x00\x80\x3e\x6f\x12\x03\x3b'
npy w2/new.npy "{'descr': '<f4', $F, 'shape': (1,), }" '\x00\x00\x80\x3f'
npy w2/half.npy "{'descr': '<f2', $F, 'shape': (3,), }" '\x00\x3e\x80\x40\x00\x00'
run 0 save m.db --step 30 --npy w2
run 0 diff m.db 10 30
has out.txt "--- m.db step 10"
has out.txt "changed    steps  1 of 3 elements differ, max abs 2, max rel 0.181818182"
has out.txt "changed    conv1/weights  1 of 6 elements differ, max abs 0.001"
has out.txt "changed    half  float16 (2,) -> float16 (3,)"
has out.txt "added      new  float32 (1,)"
has out.txt "removed    mask  bool (2, 2)"
has out.txt "1 added, 6 removed, 3 changed, 0 unchanged"
run 0 diff m.db 10 30 --json
cp out.txt d.json
if [ -n "$SQLITE" ]; then
    equals "$("$SQLITE" :memory: "select json_extract(readfile('d.json'), '\$.changed') || ',' || json_extract(value, '\$.n_diff') from json_each(readfile('d.json'), '\$.tensors') where json_extract(value, '\$.name') = 'steps'")" "3,1"
fi
cp m.db m2.db
run 0 diff m.db m2.db
has out.txt "0 added, 0 removed, 0 changed, 4 unchanged"
run 1 diff m.db 10 99
run 2 diff m.db 10 x
# int64 extremes: |b - a| = 2**64 - 1 without signed overflow (it used to
# wrap to 1, and is UB)
mkdir -p i1 i2
npy i1/v.npy "{'descr': '<i8', $F, 'shape': (1,), }" '\x00\x00\x00\x00\x00\x00\x00\x80'
npy i2/v.npy "{'descr': '<i8', $F, 'shape': (1,), }" '\xff\xff\xff\xff\xff\xff\xff\x7f'
run 0 save i1.db --step 1 --npy i1
run 0 save i2.db --step 1 --npy i2
run 0 diff i1.db i2.db --json
has out.txt '"n_diff":1,"max_abs":1.8446744073709552e+19,"max_rel":2'

# ---- SQLite extension ------------------------------------------------------
if [ -n "$SQLITE" ] && [ -n "$EXT" ]; then
    r=$("$SQLITE" m.db ".load $EXT" "select vs_tensor_json(10, 'conv1/weights');" \
        "select vs_tensor_values(10, 'mask');" \
        "select vs_tensor_at(10, 'steps', 1);" \
        "select vs_tensor_l2(10, 'conv1/weights') between 3.7831 and 3.7833;" \
        "select vs_tensor_mean(NULL, 'steps');" \
        "select vs_tensor_max_abs_diff(10, 'steps', 30, 'steps');" \
        "select vs_tensor_numel(-1, 'half');" 2>&1)
    equals "$(echo "$r" | tr '\n' ' ')" "[[1,2,3],[-0.5,0.25,0.001]] [1,0,0,1] -8 1 3.33333333333333 2.0 3 "
    r=$("$SQLITE" m.db ".load ${EXT%.so}" "select vs_tensor_at(10, 'steps', 3);" 2>&1)
    case "$r" in *"index 3 is out of range for tensor 'steps' of 3 elements"*) ok ;;
    *) fail "extension range error: $r" ;; esac
    # the norm of every conv weight at the last step, as in the README
    r=$("$SQLITE" m.db ".load $EXT" \
        "SELECT name, round(vs_tensor_l2(step, name), 4) FROM tensors WHERE step = (SELECT max(step) FROM checkpoints) AND name LIKE 'conv%' ORDER BY name;" 2>&1)
    equals "$r" "conv1/weights|3.7832"
    # the extension's cache sees a checkpoint rewritten by another process
    mkdir -p c1 c2
    npy c1/t.npy "{'descr': '<f4', $F, 'shape': (4,), }" \
        '\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f\x00\x00\x80\x3f'
    npy c2/t.npy "{'descr': '<f4', $F, 'shape': (4,), }" \
        '\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x40\x00\x00\x00\x40'
    run 0 save c.db --step 1 --npy c1
    r=$("$SQLITE" c.db ".load $EXT" "select vs_tensor_l2(1, 't');" \
        ".system '$VS' save c.db --step 1 --npy c2 >/dev/null" \
        "select vs_tensor_l2(1, 't');" 2>&1)
    # The library must not drop the shell connection's POSIX locks (a raw
    # close() of the file did, and the shell then kept a stale snapshot).
    equals "$(echo "$r" | tr '\n' ' ')" "2.0 4.0 "
    r=$("$SQLITE" :memory: ".load $EXT" "select vs_tensor_l2(1, 't');" 2>&1)
    case "$r" in *"the main database is not a file"*) ok ;;
    *) fail "extension on :memory: said: $r" ;; esac
    # loading twice through SQL: the second registration fails (SQLite
    # refuses to replace a function while a statement runs) and used to
    # free the shared state twice (crash); the first load keeps working
    r=$("$SQLITE" c.db "select load_extension('${EXT%.so}');" \
        "select load_extension('${EXT%.so}');" 2>&1)
    st=$?
    case "$st:$r" in 1:*"unable to delete/modify user-function"*) ok ;;
    *) fail "second load_extension exited $st: $r" ;; esac
    r=$("$SQLITE" c.db ".load $EXT" ".load $EXT" "select vs_tensor_numel(1, 't');" 2>&1)
    equals "$r" "4"
    # a huge shape with no elements: the nested JSON stops at SQLite's
    # length limit instead of looping 10**15 times
    mkdir -p e1
    npy e1/z.npy "{'descr': '<f4', $F, 'shape': (1000000000000000, 0), }" ''
    run 0 save e.db --step 1 --npy e1
    r=$(timeout 60 "$SQLITE" e.db ".load $EXT" ".limit length 100000" \
        "select vs_tensor_json(1, 'z');" 2>&1)
    st=$?
    case "$st:$r" in 0:*) fail "vs_tensor_json of shape (10**15, 0) succeeded" ;;
    *"string or blob too big"*) ok ;;
    *) fail "vs_tensor_json of shape (10**15, 0) exited $st: $(echo "$r" | head -c 300)" ;; esac
fi

# ---- rename, prune ----------------------------------------------------------
run 0 rename m.db conv1/ block1/conv1/ --step 10
has out.txt "renamed 2 tensors from 'conv1/' to 'block1/conv1/' in step 10"
run 0 inspect m.db --step 10 --all-tensor-names
has out.txt "block1/conv1/weights"
if grep -q '^conv1/' out.txt; then fail "conv1/ left in step 10"; else ok; fi
run 0 inspect m.db --step 30 --all-tensor-names
has out.txt "conv1/weights"
run 1 rename m.db nosuch/ x/
has err.txt "varstore: no tensor name starts with 'nosuch/' in m.db"
run 0 prune m.db --keep 2
has out.txt "deleted: 10, 20"
has out.txt "kept: 21, 30"
run 0 inspect m.db
has out.txt "checkpoints: 2"
# prune keeps the freed pages for reuse; compact gives them back
before=$(stat -c %s m.db)
run 0 compact m.db
has out.txt "m.db: gave back "
gave=$(sed 's/.*gave back \([0-9]*\) bytes/\1/' out.txt)
equals "$(stat -c %s m.db)" "$((before - gave))"
run 0 verify m.db
run 2 compact
has err.txt "varstore: compact needs a FILE"
run 1 compact nosuch.db

# ---- issue 13: inputs, names, rename, replaced steps --------------------
# a FIFO is refused at once by every command that reads a path, never
# waited on (save --safetensors used to hang)
mkfifo fifo.st
for args in "save f.db --step 1 --safetensors fifo.st" "inspect fifo.st" \
            "verify fifo.st" "diff fifo.st fifo.st" "restore fifo.st --npy fo"; do
    timeout 20 "$VS" $args >out.txt 2>err.txt
    equals "$?" 1
    equals "$(cat err.txt)" "varstore: 'fifo.st' is not a regular file"
done
[ ! -e f.db ] && [ ! -e fo ] && ok || fail "a FIFO input created output"
# names must be valid UTF-8: from a safetensors header (raw bytes or an
# escaped lone surrogate) and from the file names of an .npy tree
st u8a.st "$(printf '{"a\xff":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}')" '\x01'
st u8b.st '{"a\ud800":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' '\x01'
for f in u8a.st u8b.st; do
    run 1 save u8.db --step 1 --safetensors $f
    equals "$(cat err.txt)" "varstore: $f: a tensor name is not valid UTF-8"
done
mkdir u8npy
cp w/half.npy "u8npy/$(printf 'h\xe9')".npy
run 1 save u8.db --step 1 --npy u8npy
equals "$(cat err.txt)" "varstore: a name in 'u8npy' is not valid UTF-8 (tensor names are)"
run 1 save u8.db --step 1 --npy w --prefix "$(printf 'p\xc0\xaf')"
equals "$(cat err.txt)" "varstore: --prefix is not valid UTF-8"
[ ! -e u8.db ] && ok || fail "an invalid name created u8.db"
# valid UTF-8 and control characters: inspect --json stays JSON
st u8ok.st "$(printf '{"caf\xc3\xa9/\\u0001\\n\\"q":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}')" '\x01'
run 0 save u8ok.db --step 1 --safetensors u8ok.st
run 0 inspect u8ok.db --json
has out.txt "$(printf '"caf\xc3\xa9/\\u0001\\n\\"q"')"
run 0 restore u8ok.db --safetensors u8ok_out.st
# rename: OLD and NEW are whole scopes ('/' added): layer1 never matches
# layer10 (issue 13.5)
npy r1.npy "{'descr': '|u1', $F, 'shape': (1,), }" '\x01'
mkdir -p lay/layer1 lay/layer10
cp r1.npy lay/layer1/w.npy
cp r1.npy lay/layer10/w.npy
run 0 save lay.db --step 1 --npy lay
run 0 rename lay.db layer1 block1
equals "$(cat out.txt)" "renamed 1 tensors from 'layer1/' to 'block1/' in every checkpoint"
run 0 inspect lay.db --all-tensor-names
equals "$(tr '\n' ' ' <out.txt)" "block1/w layer10/w "
run 1 rename lay.db "$(printf 'x\xff')" y
equals "$(cat err.txt)" "varstore: OLD/ is not valid UTF-8"
# save onto an existing step replaces it and says so (issue 13.6)
run 0 save lay.db --step 1 --npy lay
equals "$(tail -1 out.txt)" "replaced the checkpoint that was step 1"
run 0 save lay.db --step 2 --npy lay
hasnt out.txt "replaced"
run 0 save --help
has out.txt "A checkpoint N"
has out.txt "already in FILE is replaced"
# --codec raw with dedup, said in --help (issue 13.7)
has out.txt "keeps the form it was first"
run 0 rename --help
has out.txt "touches layer10/w"

# ---- verify, and a corrupted file ---------------------------------------------
run 0 verify m2.db
has out.txt "m2.db: ok (4 checkpoints"
off=$(grep -obUaP '\x11\x93\x27\xc4\x5a\xe1\x08\x7d' m2.db | head -1 | cut -d: -f1)
if [ -n "$off" ]; then
    printf '\x00' | dd of=m2.db bs=1 seek=$((off + 3)) conv=notrunc 2>/dev/null
    run 1 verify m2.db
    has err.txt "other/key"
    has err.txt "10"
    has err.txt "varstore: m2.db: 1 damaged tensor found"
    run 1 restore m2.db --step 10 --npy dmg
    has err.txt "other/key"
    # all or nothing (issue 13): the tensors before the damaged one were
    # written, but into the private folder beside dmg2, removed whole
    run 1 restore m2.db --step 10 --npy dmg2
    has err.txt "other/key"
    equals "$(wc -l <err.txt)" 1
    [ ! -e dmg2 ] && ok || fail "a failed restore left dmg2: $(find dmg2)"
    equals "$(ls -a | grep -c '\.tmp-')" "0"
    # into an empty folder: it stays, empty
    mkdir dmg3
    run 1 restore m2.db --step 10 --npy dmg3/
    has err.txt "other/key"
    equals "$(find dmg3 | tr '\n' ' ')" "dmg3 "
    # --safetensors over an existing file: the damage is reported, the
    # file is left as it was and no temporary file stays beside it
    echo keep >dmg.st
    run 1 restore m2.db --step 10 --safetensors dmg.st
    has err.txt "other/key"
    equals "$(wc -l <err.txt)" 1
    equals "$(cat dmg.st)" "keep"
    equals "$(ls | grep -c '\.tmp-')" "0"
    # the tensors before the damage can still be exported
    run 0 restore m2.db --step 10 --safetensors part.st --tensor be --tensor mask
    has out.txt "restored 2 tensors of step 10 to part.st"
else
    fail "could not find the stored bytes to corrupt"
fi

# damage outside tensor data (a view that is not the schema's): the one
# error, without a count of damaged tensors
if command -v python3 >/dev/null; then
    cp lay.db view.db
    python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("DROP VIEW latest; CREATE VIEW latest AS SELECT 1 AS x;")
c.close()' view.db
    run 1 verify view.db
    has err.txt "view latest"
    hasnt err.txt "damaged tensor"
    equals "$(wc -l <err.txt)" 1
fi

# ---- progress bar: on a terminal only -----------------------------------------
# 8 MiB of random float32: 8 chunks of 1 MiB, so the library reports progress
# several times. VARSTORE_PROGRESS_DELAY=0 shows the bar at once, as for long
# work, so that only "is stderr a terminal" decides.
mkdir bigw
npy bigw/w.npy "{'descr': '<f4', $F, 'shape': (2097152,), }" ''
head -c 8388608 /dev/urandom >>bigw/w.npy
no_cr() {
    if grep -q $'\r' "$1"; then fail "$1 has a carriage return (a bar)"; else ok; fi
}
export VARSTORE_PROGRESS_DELAY=0
run 0 save big.db --step 1 --npy bigw
has out.txt "saved 1 tensors (8.0 MiB) as step 1 in big.db"
no_cr err.txt
equals "$(wc -c <err.txt)" "0"
run 0 verify big.db
no_cr err.txt
run 0 restore big.db --npy bigout
# a write failing mid-stream (files limited to 512 KiB, SIGXFSZ ignored so
# that the write fails with EFBIG): one error, exit 1, nothing left
for out in "--npy xfsz" "--safetensors xfsz.st"; do
    # shellcheck disable=SC2086
    (ulimit -f 1024 && trap '' XFSZ && exec "$VS" restore big.db $out) >out.txt 2>err.txt
    equals "$?" 1
    equals "$(wc -l <err.txt)" 1
    has err.txt "File too large"
done
has err.txt "varstore: cannot write 'xfsz.st': File too large"
[ ! -e xfsz.st ] && [ ! -e xfsz/w.npy ] && ok || fail "a failed restore left a file"
equals "$(ls | grep -c '\.tmp-')" "0"
no_cr err.txt
same bigw/w.npy bigout/w.npy
mkdir big2w
cp bigw/w.npy big2w/a.npy
cp bigw/w.npy big2w/b.npy
run 0 save big2.db --step 1 --npy big2w
run 0 restore big2.db --npy big2out
no_cr err.txt
same bigw/w.npy big2out/a.npy
same bigw/w.npy big2out/b.npy
# on a terminal (script(1) runs the command on a pseudo-terminal)
if command -v script >/dev/null 2>&1 &&
    script -qec true /dev/null </dev/null >/dev/null 2>&1; then
    on_tty() {
        script -qec "$(printf '%q ' "$VS" "$@")" /dev/null </dev/null >tty.txt 2>&1
    }
    on_tty save big.db --step 2 --npy bigw && ok || fail "save on a tty failed"
    has tty.txt "saving ["
    has tty.txt "] 1.0 MiB / 8.0 MiB" # the first chunk, drawn at once
    has tty.txt "] 8.0 MiB / 8.0 MiB"
    has tty.txt "saved 1 tensors (8.0 MiB) as step 2 in big.db"
    on_tty verify big.db && ok || fail "verify on a tty failed"
    has tty.txt "verifying ["
    has tty.txt "] 1.0 MiB / 8.0 MiB" # the first chunk, drawn at once
    has tty.txt "] 8.0 MiB / 8.0 MiB"
    has tty.txt "big.db: ok (2 checkpoints, 2 tensors)"
    on_tty restore big.db --npy bigtty && ok || fail "restore on a tty failed"
    has tty.txt "restoring ["
    has tty.txt "] 8.0 MiB / 8.0 MiB"
    same bigw/w.npy bigtty/w.npy
    # two tensors: the bar counts both
    on_tty restore big2.db --npy big2tty && ok || fail "restore of two tensors on a tty failed"
    has tty.txt "restoring ["
    has tty.txt "] 16.0 MiB / 16.0 MiB"
    has tty.txt "restored 2 tensors of step 1 to big2tty"
    same bigw/w.npy big2tty/a.npy
    same bigw/w.npy big2tty/b.npy
    # work shorter than the delay: no bar, even on a terminal
    export VARSTORE_PROGRESS_DELAY=60
    on_tty save small.db --step 1 --npy w && ok || fail "save on a tty failed"
    hasnt tty.txt "saving ["
    has tty.txt "saved 9 tensors"
else
    echo "note: no usable script(1): the terminal case is not tested" >&2
fi
unset VARSTORE_PROGRESS_DELAY

# ---- TensorFlow checkpoints: import, inspect, export, import again ----
if [ -n "${VS_TF_FIXTURES:-}" ] && [ -d "$VS_TF_FIXTURES" ]; then
    run 0 save tfa.db --step 3 --tf-checkpoint "$VS_TF_FIXTURES"
    has out.txt "saved 14 tensors"
    run 0 inspect tfa.db
    has out.txt "bigpart/w"
    mkdir tfout
    run 0 restore tfa.db --tf-checkpoint tfout/model.ckpt
    has out.txt "restored 14 tensors of step 3 to tfout/model.ckpt"
    [ -f tfout/model.ckpt.index ] && [ -f tfout/checkpoint ] && ok ||
        fail "restore --tf-checkpoint wrote no index or checkpoint file"
    run 0 save tfb.db --step 3 --tf-checkpoint tfout
    run 0 diff tfa.db tfb.db
    has out.txt "0 added, 0 removed, 0 changed, 14 unchanged"
    # inspect and diff read a TF checkpoint as they read a varstore file
    run 0 inspect tfout
    has out.txt "journal: none (TensorFlow checkpoint)"
    has out.txt "step 0: 14 tensors"
    run 0 inspect "$VS_TF_FIXTURES/model.ckpt" --tensor dense/kernel
    has out.txt "[[-1.25  -0.375  0.5    1.375]"
    run 0 diff "$VS_TF_FIXTURES" tfb.db
    has out.txt "0 added, 0 removed, 0 changed, 14 unchanged"
    run 1 prune tfout --keep 1
    # a prefix in a missing folder: an error, nothing written
    run 1 restore tfa.db --tf-checkpoint nodir/model.ckpt
    [ ! -e nodir ] && ok || fail "restore --tf-checkpoint created nodir"
    run 2 restore tfa.db --tf-checkpoint tfout/x --npy y
    # a store named `checkpoint` exported beside itself: the TF state file
    # would replace it; refused, the store kept
    mkdir tfself
    cp tfa.db tfself/checkpoint
    run 1 restore tfself/checkpoint --tf-checkpoint tfself/model.ckpt
    has err.txt "tfself/checkpoint is a varstore (SQLite) file"
    same tfa.db tfself/checkpoint
    [ ! -e tfself/model.ckpt.index ] && ok || fail "restore wrote an index"
    # a store whose name ends in .index is a store, not a TF index
    run 0 save tfself/store.index --step 3 --tf-checkpoint "$VS_TF_FIXTURES"
    run 0 inspect tfself/store.index
    has out.txt "bigpart/w"
    hasnt out.txt "TensorFlow checkpoint"
    run 1 save tfc.db --step 1 --tf-checkpoint tfout/nothing.ckpt
    has err.txt "Failed to find any matching files"
else
    echo "note: VS_TF_FIXTURES not set: the TF checkpoint commands are not tested" >&2
fi

echo "test_cli: $CHECKS checks, $FAILS failures"
[ "$FAILS" -eq 0 ]

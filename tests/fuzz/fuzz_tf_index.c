/* Fuzz target for the TensorFlow checkpoint index parser (tf/table_read.c)
 * and the bundle protos (tf/entry.c): the input is parsed as a whole
 * .index in memory; on success every entry is decoded (header, tensor
 * entries, slice keys rebuilt). Checks the contract beyond "no crash":
 * on success keys strictly increasing and values inside the input, on
 * failure a negative code and a message naming the file. The input is
 * also decoded as one BundleEntryProto and as a header on its own: inside
 * an .index every value sits behind a block CRC32C that mutations rarely
 * keep, so the proto decoders are fuzzed directly too. Built with
 * libFuzzer when VS_FUZZ is on (clang), and as a plain replay program
 * (fuzz_replay.c) for CTest over tests/fuzz/corpus/tf_index/. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "tf_int.h"

/* Decodes one value: the header (empty key) or a tensor entry, whose
 * slice keys are rebuilt into *key. */
static void decode_value(size_t key_len, const uint8_t *val, size_t val_len,
                         vs__tf_buf *key)
{
    vs__tf_entry e;
    vs__tf_header h;
    if (key_len == 0) {
        (void)vs__tf_header_decode("fuzz.index", val, val_len, &h);
        return;
    }
    if (vs__tf_entry_decode("fuzz.index", "k", val, val_len, &e) != VS_OK) {
        if (strstr(vs_errmsg(), "fuzz.index") == NULL)
            vs_fuzz_die("entry error without the file name", vs_errmsg());
        return;
    }
    for (size_t s = 0; s < e.n_slices && s < 64; s++)
        if (vs__tf_slice_key("k", e.slices[s].ndim, &e.slices[s], key) !=
            VS_OK)
            vs_fuzz_die("slice key failed", "fuzz.index");
    vs__tf_entry_clear(&e);
}

static void check_entries(const vs__tf_table *t, const uint8_t *data,
                          size_t size)
{
    vs__tf_buf key = {0};
    for (size_t i = 0; i < t->n; i++) {
        const vs__tf_kv *kv = &t->kv[i];
        if (kv->val < t->bytes || kv->val_len > size ||
            (size_t)(kv->val - t->bytes) > size - kv->val_len)
            vs_fuzz_die("value outside the input", "fuzz.index");
        if (i > 0) {
            const vs__tf_kv *p = &t->kv[i - 1];
            size_t m = p->key_len < kv->key_len ? p->key_len : kv->key_len;
            int c = m ? memcmp(p->key, kv->key, m) : 0;
            if (c > 0 || (c == 0 && p->key_len >= kv->key_len))
                vs_fuzz_die("keys not strictly increasing", "fuzz.index");
        }
        decode_value(kv->key_len, kv->val, kv->val_len, &key);
    }
    vs__tfbuf_free(&key);
    (void)data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vs__tf_table t;
    int rc;
    memset(&t, 0, sizeof t);
    t.bytes = malloc(size ? size : 1);
    if (t.bytes == NULL)
        return 0;
    if (size)
        memcpy(t.bytes, data, size);
    t.len = size;
    rc = vs__tf_table_parse("fuzz.index", &t);
    if (rc == VS_OK)
        check_entries(&t, t.bytes, size);
    else if (rc >= 0 || strstr(vs_errmsg(), "fuzz.index") == NULL)
        vs_fuzz_die("error without the file name", vs_errmsg());
    vs__tf_table_free(&t);
    vs__tf_buf key = {0};
    decode_value(1, data, size, &key);
    decode_value(0, data, size, &key);
    vs__tfbuf_free(&key);
    return 0;
}

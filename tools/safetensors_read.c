/* varstore tools: reading safetensors files. The JSON header is parsed by
 * SQLite's JSON functions (json_valid, json_type, json_each) in a private
 * in-memory connection; every field, offset and size is checked before any
 * tensor is built, so a hostile file yields one clear error. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "safetensors.h"
#include "utf8.h"
#include "vst.h"

void vst_st_free(vst_st_file *f)
{
    size_t i;
    if (f == NULL)
        return;
    for (i = 0; i < f->n; i++) {
        if (f->names)
            free(f->names[i]);
        if (f->tensors)
            vs_tensor_free(f->tensors[i]);
    }
    for (i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f);
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                   */

typedef struct {
    char *name;
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    uint64_t begin, end;
    size_t nbytes;
} st_entry;

typedef struct {
    const char *path;
    sqlite3 *db;
    sqlite3_stmt *s_top, *s_fields, *s_arr;
    st_entry *e;
    size_t n, cap;
    vst_st_file *f; /* metadata collected here */
    size_t meta_cap;
} st_reader;

/* SQLite (parsing the header's JSON) failed: out of memory, or not. */
static int sql_fail(st_reader *r, const char *what)
{
    int nomem = r->db == NULL || sqlite3_errcode(r->db) == SQLITE_NOMEM;
    return vst_fail(nomem ? VS_ENOMEM : VS_EIO, "%s: %s: %s", r->path, what,
                    r->db ? sqlite3_errmsg(r->db) : "out of memory");
}

/* Resets s and binds the json_len bytes of json to its ?1. */
static int bind_json(st_reader *r, sqlite3_stmt *s, const char *json,
                     int json_len)
{
    sqlite3_reset(s);
    if (sqlite3_bind_text(s, 1, json, json_len, SQLITE_TRANSIENT) !=
        SQLITE_OK)
        return sql_fail(r, "cannot bind");
    return VS_OK;
}

static char *dup_str(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Reads an array of non-negative integers (JSON text) into v (at most max);
 * *n gets the count. */
static int read_int_array(st_reader *r, const char *tname, const char *field,
                          const char *json, int json_len, int64_t *v, int max,
                          int *n)
{
    int rc, k = 0;

    *n = 0;
    if ((rc = bind_json(r, r->s_arr, json, json_len)) != VS_OK)
        return rc;
    while ((rc = sqlite3_step(r->s_arr)) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(r->s_arr, 0);
        if (type == NULL || strcmp(type, "integer") != 0 ||
            sqlite3_column_type(r->s_arr, 1) != SQLITE_INTEGER)
            return vst_fail(VS_ECORRUPT,
                            "%s: tensor '%s': %s holds a value that is not "
                            "a 64-bit integer",
                            r->path, tname, field);
        if (k == max)
            return vst_fail(max == VS_MAX_DIMS ? VS_EINVAL : VS_ECORRUPT,
                            "%s: tensor '%s': %s has more than %d %s",
                            r->path, tname, field, max,
                            max == VS_MAX_DIMS ? "dimensions" : "elements");
        v[k] = sqlite3_column_int64(r->s_arr, 1);
        if (v[k] < 0)
            return vst_fail(VS_ECORRUPT, "%s: tensor '%s': %s holds %lld",
                            r->path, tname, field, (long long)v[k]);
        k++;
    }
    if (rc != SQLITE_DONE)
        return sql_fail(r, "cannot parse the header");
    sqlite3_reset(r->s_arr);
    *n = k;
    return VS_OK;
}

/* The dtype field of tensor e: a string naming a known dtype. */
static int entry_dtype(st_reader *r, st_entry *e, const char *type,
                       const char *val)
{
    if (strcmp(type, "text") != 0 || val == NULL)
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': dtype is not a string",
                        r->path, e->name);
    if (vst_st_dtype_from_name(val, &e->dtype) != VS_OK)
        return vst_fail(VS_EDTYPE,
                        "%s: tensor '%s': unknown dtype '%s' (F16 BF16 F32 "
                        "F64 I8 U8 I32 I64 BOOL are read)",
                        r->path, e->name, val);
    return VS_OK;
}

/* The data_offsets field of tensor e: [begin, end], begin <= end. */
static int entry_offsets(st_reader *r, st_entry *e, const char *type,
                         const char *val, int vlen)
{
    int64_t off[2] = {0, 0};
    int n = 0, rc;
    if (strcmp(type, "array") != 0)
        return vst_fail(VS_ECORRUPT,
                        "%s: tensor '%s': data_offsets is not an array",
                        r->path, e->name);
    rc = read_int_array(r, e->name, "data_offsets", val, vlen, off, 2, &n);
    if (rc)
        return rc;
    if (n != 2)
        return vst_fail(VS_ECORRUPT,
                        "%s: tensor '%s': data_offsets has %d elements, not 2",
                        r->path, e->name, n);
    if (off[1] < off[0])
        return vst_fail(VS_ECORRUPT,
                        "%s: tensor '%s': data_offsets [%lld, %lld] end "
                        "before they begin",
                        r->path, e->name, (long long)off[0],
                        (long long)off[1]);
    e->begin = (uint64_t)off[0];
    e->end = (uint64_t)off[1];
    return VS_OK;
}

/* The field of tensor e in the current row of r->s_fields; seen has a bit
 * per field met (1 dtype, 2 shape, 4 data_offsets). */
static int entry_field(st_reader *r, st_entry *e, unsigned *seen)
{
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    const char *key = (const char *)sqlite3_column_text(r->s_fields, 0);
    const char *type = (const char *)sqlite3_column_text(r->s_fields, 1);
    const char *val = (const char *)sqlite3_column_text(r->s_fields, 2);
    int vlen = sqlite3_column_bytes(r->s_fields, 2);
    unsigned k;
    if (key == NULL || type == NULL)
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': bad field", r->path,
                        e->name);
    for (k = 0; k < 3 && strcmp(key, fields[k]) != 0; k++)
        ;
    if (k == 3)
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': unknown field '%s'",
                        r->path, e->name, key);
    if (*seen & (1u << k))
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': a field appears twice",
                        r->path, e->name);
    *seen |= 1u << k;
    if (k == 0)
        return entry_dtype(r, e, type, val);
    if (k == 2)
        return entry_offsets(r, e, type, val, vlen);
    if (strcmp(type, "array") != 0)
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': shape is not an array",
                        r->path, e->name);
    return read_int_array(r, e->name, "shape", val, vlen, e->shape,
                          VS_MAX_DIMS, &e->ndim);
}

/* Parses one tensor entry (the JSON object text) into e. */
static int read_entry(st_reader *r, st_entry *e, const char *json,
                      int json_len)
{
    unsigned seen = 0;
    int rc;

    if ((rc = bind_json(r, r->s_fields, json, json_len)) != VS_OK)
        return rc;
    while ((rc = sqlite3_step(r->s_fields)) == SQLITE_ROW) {
        rc = entry_field(r, e, &seen);
        if (rc)
            return rc;
    }
    if (rc != SQLITE_DONE)
        return sql_fail(r, "cannot parse the header");
    sqlite3_reset(r->s_fields);
    if (seen != 7)
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': missing field '%s'",
                        r->path, e->name,
                        !(seen & 1)   ? "dtype"
                        : !(seen & 2) ? "shape" : "data_offsets");
    return VS_OK;
}

/* Appends key and value (vlen bytes) to the file's metadata. */
static int add_meta(st_reader *r, const char *key, const char *val,
                    size_t vlen)
{
    vst_st_file *f = r->f;
    if (f->n_meta == r->meta_cap) {
        size_t nc = r->meta_cap ? 2 * r->meta_cap : 8;
        char **k2 = realloc(f->meta_keys, nc * sizeof *k2);
        char **v2;
        if (k2 == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        f->meta_keys = k2;
        v2 = realloc(f->meta_values, nc * sizeof *v2);
        if (v2 == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        f->meta_values = v2;
        r->meta_cap = nc;
    }
    f->meta_keys[f->n_meta] = dup_str(key, strlen(key));
    f->meta_values[f->n_meta] = dup_str(val, vlen);
    if (f->meta_keys[f->n_meta] == NULL || f->meta_values[f->n_meta] == NULL) {
        free(f->meta_keys[f->n_meta]);
        free(f->meta_values[f->n_meta]);
        return vst_fail(VS_ENOMEM, "out of memory");
    }
    f->n_meta++;
    return VS_OK;
}

static int read_metadata(st_reader *r, const char *json, int json_len)
{
    int rc;

    if ((rc = bind_json(r, r->s_fields, json, json_len)) != VS_OK)
        return rc;
    while ((rc = sqlite3_step(r->s_fields)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(r->s_fields, 0);
        const char *type = (const char *)sqlite3_column_text(r->s_fields, 1);
        const char *val = (const char *)sqlite3_column_text(r->s_fields, 2);
        int vlen = sqlite3_column_bytes(r->s_fields, 2);
        if (key == NULL || type == NULL || val == NULL ||
            strcmp(type, "text") != 0)
            return vst_fail(VS_ECORRUPT,
                            "%s: __metadata__ value of '%s' is not a string",
                            r->path, key ? key : "?");
        if (!vs__utf8_valid(key, strlen(key)) ||
            !vs__utf8_valid(val, (size_t)vlen))
            return vst_fail(VS_ECORRUPT,
                            "%s: __metadata__ entry is not valid UTF-8",
                            r->path);
        rc = add_meta(r, key, val, (size_t)vlen);
        if (rc)
            return rc;
    }
    if (rc != SQLITE_DONE)
        return sql_fail(r, "cannot parse __metadata__");
    sqlite3_reset(r->s_fields);
    return VS_OK;
}

/* Checks that the header is valid JSON and an object. */
static int check_json_object(st_reader *r, const char *hdr, size_t hlen)
{
    sqlite3_stmt *s = NULL;
    const char *type;
    int rc;

    if (sqlite3_prepare_v2(r->db,
                           "SELECT json_valid(?1), CASE WHEN json_valid(?1) "
                           "THEN json_type(?1) END",
                           -1, &s, NULL) != SQLITE_OK)
        return sql_fail(r, "cannot prepare");
    if (sqlite3_bind_text(s, 1, hdr, (int)hlen, SQLITE_STATIC) != SQLITE_OK)
        rc = sql_fail(r, "cannot bind");
    else if (sqlite3_step(s) != SQLITE_ROW)
        rc = sql_fail(r, "cannot parse the header");
    else if (sqlite3_column_int(s, 0) != 1)
        rc = vst_fail(VS_ECORRUPT, "%s: header is not valid JSON", r->path);
    else if ((type = (const char *)sqlite3_column_text(s, 1)) == NULL ||
             strcmp(type, "object") != 0)
        rc = vst_fail(VS_ECORRUPT, "%s: header is not a JSON object",
                      r->path);
    else
        rc = VS_OK;
    sqlite3_finalize(s);
    return rc;
}

/* A new entry named by the current row of r->s_top, its fields read from
 * val (the entry's JSON object). */
static int add_entry(st_reader *r, const char *key, const char *val,
                     int vlen)
{
    size_t klen = (size_t)sqlite3_column_bytes(r->s_top, 0);
    st_entry *e;
    if (!vs__utf8_valid(key, klen))
        return vst_fail(VS_ECORRUPT,
                        "%s: a tensor name is not valid UTF-8", r->path);
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 16;
        st_entry *ne = realloc(r->e, nc * sizeof *ne);
        if (ne == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        r->e = ne;
        r->cap = nc;
    }
    e = &r->e[r->n];
    memset(e, 0, sizeof *e);
    e->name = dup_str(key, klen);
    if (e->name == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    r->n++;
    return read_entry(r, e, val, vlen);
}

/* The current row of r->s_top: __metadata__ or a tensor entry. */
static int top_entry(st_reader *r, int *have_meta)
{
    const char *key = (const char *)sqlite3_column_text(r->s_top, 0);
    const char *t = (const char *)sqlite3_column_text(r->s_top, 1);
    const char *val = (const char *)sqlite3_column_text(r->s_top, 2);
    int vlen = sqlite3_column_bytes(r->s_top, 2);

    if (key == NULL || t == NULL)
        return vst_fail(VS_ECORRUPT, "%s: bad header entry", r->path);
    if (strcmp(key, "__metadata__") == 0) {
        if ((*have_meta)++)
            return vst_fail(VS_ECORRUPT, "%s: __metadata__ appears twice",
                            r->path);
        if (strcmp(t, "object") != 0)
            return vst_fail(VS_ECORRUPT,
                            "%s: __metadata__ is not a JSON object", r->path);
        return read_metadata(r, val, vlen);
    }
    if (strcmp(t, "object") != 0)
        return vst_fail(VS_ECORRUPT,
                        "%s: tensor '%s': entry is not a JSON object",
                        r->path, key);
    return add_entry(r, key, val, vlen);
}

static int parse_header(st_reader *r, const char *hdr, size_t hlen)
{
    static const char each[] = "SELECT key, type, value FROM json_each(?1)";
    int rc, have_meta = 0;

    if (sqlite3_open_v2(":memory:", &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        return sql_fail(r, "cannot open SQLite");
    if (hlen > (size_t)INT32_MAX)
        return vst_fail(VS_ECORRUPT, "%s: header too long", r->path);
    rc = check_json_object(r, hdr, hlen);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(r->db, each, -1, &r->s_top, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, each, -1, &r->s_fields, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "SELECT type, atom FROM json_each(?1)", -1,
                           &r->s_arr, NULL) != SQLITE_OK)
        return sql_fail(r, "cannot prepare");
    if (sqlite3_bind_text(r->s_top, 1, hdr, (int)hlen, SQLITE_STATIC) !=
        SQLITE_OK)
        return sql_fail(r, "cannot bind");
    while ((rc = sqlite3_step(r->s_top)) == SQLITE_ROW) {
        rc = top_entry(r, &have_meta);
        if (rc)
            return rc;
    }
    if (rc != SQLITE_DONE)
        return sql_fail(r, "cannot parse the header");
    return VS_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int cmp_off(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a;
    const st_entry *y = *(const st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sizes, bounds, duplicates and exact coverage of the data section. */
static int check_layout(st_reader *r, uint64_t data_len)
{
    st_entry **by_off = NULL;
    char sbuf[VST_SHAPE_STR_MAX];
    uint64_t pos = 0;
    size_t i;
    int rc;

    for (i = 0; i < r->n; i++) {
        st_entry *e = &r->e[i];
        rc = vs_shape_check(e->dtype, e->ndim, e->shape, NULL, &e->nbytes);
        if (rc)
            return vst_fail(rc, "%s: tensor '%s': %s", r->path, e->name,
                            vs_errmsg());
        if (e->end > data_len)
            return vst_fail(VS_ECORRUPT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] go "
                            "beyond the data section (%llu bytes)",
                            r->path, e->name, (unsigned long long)e->begin,
                            (unsigned long long)e->end,
                            (unsigned long long)data_len);
        if ((uint64_t)e->nbytes != e->end - e->begin)
            return vst_fail(VS_ECORRUPT,
                            "%s: tensor '%s': shape %s of %s needs %zu bytes "
                            "but data_offsets [%llu, %llu] hold %llu",
                            r->path, e->name,
                            vst_shape_str(e->ndim, e->shape, sbuf, sizeof sbuf),
                            vst_st_dtype_name(e->dtype), e->nbytes,
                            (unsigned long long)e->begin,
                            (unsigned long long)e->end,
                            (unsigned long long)(e->end - e->begin));
    }
    if (r->n > 1)
        qsort(r->e, r->n, sizeof *r->e, cmp_name);
    for (i = 1; i < r->n; i++) {
        if (strcmp(r->e[i - 1].name, r->e[i].name) == 0)
            return vst_fail(VS_ECORRUPT, "%s: duplicate tensor name '%s'",
                            r->path, r->e[i].name);
    }
    if (r->n > 0) {
        by_off = malloc(r->n * sizeof *by_off);
        if (by_off == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        for (i = 0; i < r->n; i++)
            by_off[i] = &r->e[i];
        qsort(by_off, r->n, sizeof *by_off, cmp_off);
    }
    rc = VS_OK;
    for (i = 0; i < r->n; i++) {
        const st_entry *e = by_off[i];
        if (e->begin < pos) {
            rc = vst_fail(VS_ECORRUPT,
                          "%s: tensors '%s' and '%s' overlap in the data "
                          "section",
                          r->path, by_off[i - 1]->name, e->name);
            break;
        }
        if (e->begin > pos) {
            rc = vst_fail(VS_ECORRUPT,
                          "%s: bytes %llu to %llu of the data section belong "
                          "to no tensor",
                          r->path, (unsigned long long)pos,
                          (unsigned long long)e->begin);
            break;
        }
        pos = e->end;
    }
    if (rc == VS_OK && pos != data_len)
        rc = vst_fail(VS_ECORRUPT,
                      "%s: bytes %llu to %llu of the data section belong to "
                      "no tensor",
                      r->path, (unsigned long long)pos,
                      (unsigned long long)data_len);
    free(by_off);
    return rc;
}

/* Reads the header (its length checked against the file's size fsize)
 * into a new NUL-terminated *out of *hlen bytes. */
static int read_header_text(st_reader *r, int fd, uint64_t fsize,
                            char **out, uint64_t *hlen)
{
    unsigned char lenb[8];
    uint64_t n = 0;
    size_t i;
    char *hdr;
    if (fsize < 8 || vst_pread_all(fd, lenb, 8, 0) != 0)
        return vst_fail(VS_ECORRUPT,
                        "%s: truncated safetensors file (%llu bytes, the "
                        "header length alone is 8)",
                        r->path, (unsigned long long)fsize);
    for (i = 8; i-- > 0;)
        n = n << 8 | lenb[i];
    if (n > VST_ST_MAX_HEADER)
        return vst_fail(VS_ECORRUPT,
                        "%s: header length %llu exceeds the 100 MB limit",
                        r->path, (unsigned long long)n);
    if (n > fsize - 8)
        return vst_fail(VS_ECORRUPT,
                        "%s: header length %llu goes beyond the end of the "
                        "file (%llu bytes)",
                        r->path, (unsigned long long)n,
                        (unsigned long long)fsize);
    hdr = malloc((size_t)n + 1);
    if (hdr == NULL)
        return vst_fail(VS_ENOMEM, "out of memory reading '%s'", r->path);
    if (vst_pread_all(fd, hdr, (size_t)n, 8) != 0) {
        free(hdr);
        return vst_fail(VS_EIO, "cannot read the header of '%s'", r->path);
    }
    hdr[n] = '\0';
    *out = hdr;
    *hlen = n;
    return VS_OK;
}

/* Refuses NUL in the header, raw or escaped: SQLite's JSON functions cut a
 * string at an escaped NUL, and "a\u0000b" must not become "a". */
static int check_no_nul(const st_reader *r, const char *hdr, size_t hlen)
{
    size_t i;
    if (memchr(hdr, '\0', hlen) != NULL)
        return vst_fail(VS_ECORRUPT, "%s: header is not valid JSON", r->path);
    for (i = 0; i + 1 < hlen; i++) {
        if (hdr[i] != '\\')
            continue;
        if (hdr[i + 1] == 'u' && i + 5 < hlen &&
            memcmp(hdr + i + 2, "0000", 4) == 0)
            return vst_fail(VS_ECORRUPT,
                            "%s: header has a NUL character (\\u0000) in a "
                            "string",
                            r->path);
        i++; /* skip the escaped character */
    }
    return VS_OK;
}

/* Tensor i of the checked entries: built, its data read from fd. */
static int build_tensor(st_reader *r, int fd, uint64_t data_off, size_t i)
{
    st_entry *e = &r->e[i];
    vs_tensor *t = NULL;
    char *what;
    int rc = vs_tensor_new(e->dtype, e->ndim, e->shape, &t);
    if (rc)
        return vst_fail(rc, "%s: tensor '%s': %s", r->path, e->name,
                        vs_errmsg());
    r->f->names[i] = e->name;
    e->name = NULL;
    r->f->tensors[i] = t;
    r->f->n = i + 1;
    if (e->nbytes == 0)
        return VS_OK;
    if (vst_pread_all(fd, t->data, e->nbytes, data_off + e->begin) != 0)
        return vst_fail(VS_EIO, "cannot read tensor '%s' of '%s'",
                        r->f->names[i], r->path);
    if (!vst_host_little())
        vst_byteswap(t->data, e->nbytes / vs_dtype_size(e->dtype),
                     vs_dtype_size(e->dtype));
    if (e->dtype != VS_BOOL)
        return VS_OK;
    what = sqlite3_mprintf("%s: tensor '%s'", r->path, r->f->names[i]);
    if (what == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    rc = vst_check_bools(t->data, e->nbytes, what);
    sqlite3_free(what);
    return rc;
}

/* Forgets what a parse of the header collected, for a second parse. */
static int reset_parse(st_reader *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->e[i].name);
    free(r->e);
    r->e = NULL;
    r->n = r->cap = 0;
    sqlite3_finalize(r->s_top);
    sqlite3_finalize(r->s_fields);
    sqlite3_finalize(r->s_arr);
    r->s_top = r->s_fields = r->s_arr = NULL;
    if (r->db != NULL)
        sqlite3_close(r->db);
    r->db = NULL;
    vst_st_free(r->f);
    r->meta_cap = 0;
    r->f = calloc(1, sizeof *r->f);
    return r->f != NULL ? VS_OK : vst_fail(VS_ENOMEM, "out of memory");
}

/* The header of the open file fd of fsize bytes, parsed and checked
 * against the data section (its length in *hlen). */
static int check_file(st_reader *r, int fd, uint64_t fsize, uint64_t *hlen)
{
    char *hdr = NULL;
    int rc = read_header_text(r, fd, fsize, &hdr, hlen);
    if (rc == VS_OK)
        rc = check_no_nul(r, hdr, (size_t)*hlen);
    if (rc == VS_OK) {
        rc = parse_header(r, hdr, (size_t)*hlen);
        /* SQLite's JSON functions report some failed allocations as a bad
         * header (json_valid() 0, an empty array): the header is damaged
         * only when a second parse finds the same. */
        if (rc == VS_ECORRUPT && (rc = reset_parse(r)) == VS_OK)
            rc = parse_header(r, hdr, (size_t)*hlen);
        if (rc == VS_ECORRUPT && r->db != NULL &&
            sqlite3_errcode(r->db) == SQLITE_NOMEM)
            rc = vst_fail(VS_ENOMEM, "%s: out of memory reading the header",
                          r->path);
    }
    free(hdr);
    if (rc == VS_OK)
        rc = check_layout(r, fsize - 8 - *hlen);
    return rc;
}

/* Everything read from the open file fd of fsize bytes into r->f. */
static int read_file(st_reader *r, int fd, uint64_t fsize)
{
    uint64_t hlen = 0;
    size_t i;
    int rc = check_file(r, fd, fsize, &hlen);
    if (rc != VS_OK)
        return rc;
    /* All checked: build the tensors (sorted by name). */
    r->f->names = calloc(r->n ? r->n : 1, sizeof *r->f->names);
    r->f->tensors = calloc(r->n ? r->n : 1, sizeof *r->f->tensors);
    if (r->f->names == NULL || r->f->tensors == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    for (i = 0; rc == VS_OK && i < r->n; i++)
        rc = build_tensor(r, fd, 8 + hlen, i);
    return rc;
}

/* The checked entries of r as an index (names moved into it). */
static int make_index(st_reader *r, uint64_t fsize, uint64_t hlen,
                      vst_st_index **out)
{
    vst_st_index *x = calloc(1, sizeof *x);
    size_t i;
    if (x != NULL)
        x->e = calloc(r->n ? r->n : 1, sizeof *x->e);
    if (x == NULL || x->e == NULL) {
        free(x);
        return vst_fail(VS_ENOMEM, "out of memory");
    }
    for (i = 0; i < r->n; i++) {
        vst_st_entry *e = &x->e[i];
        e->name = r->e[i].name;
        r->e[i].name = NULL;
        e->dtype = r->e[i].dtype;
        e->ndim = r->e[i].ndim;
        memcpy(e->shape, r->e[i].shape, sizeof e->shape);
        e->offset = 8 + hlen + r->e[i].begin;
        e->nbytes = r->e[i].nbytes;
    }
    x->n = r->n;
    x->file_size = fsize;
    *out = x;
    return VS_OK;
}

void vst_st_index_free(vst_st_index *x)
{
    size_t i;
    if (x == NULL)
        return;
    for (i = 0; i < x->n; i++)
        free(x->e[i].name);
    free(x->e);
    free(x);
}

/* Frees what r holds (not r->f's result when handed out: NULL then). */
static void reader_free(st_reader *r)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        free(r->e[i].name);
    free(r->e);
    sqlite3_finalize(r->s_top);
    sqlite3_finalize(r->s_fields);
    sqlite3_finalize(r->s_arr);
    if (r->db != NULL)
        sqlite3_close(r->db);
    vst_st_free(r->f);
}

int vst_st_read_index(const char *path, vst_st_index **out)
{
    st_reader r;
    uint64_t fsize = 0, hlen = 0;
    vst_file_id id = {0};
    int rc, fd;

    if (out == NULL || path == NULL)
        return vst_fail(VS_EINVAL, "vst_st_read_index: path or out is NULL");
    *out = NULL;
    memset(&r, 0, sizeof r);
    r.path = path;
    r.f = calloc(1, sizeof *r.f);
    if (r.f == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    fd = vst_open_regular_id(path, &id);
    fsize = id.size;
    rc = fd < 0 ? VS_EIO : check_file(&r, fd, fsize, &hlen);
    if (fd >= 0)
        (void)close(fd); /* read-only: nothing of it to lose */
    if (rc == VS_OK)
        rc = make_index(&r, fsize, hlen, out);
    if (rc == VS_OK)
        (*out)->file_id = id;
    reader_free(&r);
    return rc;
}

int vst_st_read(const char *path, vst_st_file **out)
{
    st_reader r;
    uint64_t fsize = 0;
    int rc, fd;

    if (out == NULL)
        return vst_fail(VS_EINVAL, "vst_st_read: out is NULL");
    *out = NULL;
    if (path == NULL)
        return vst_fail(VS_EINVAL, "vst_st_read: path is NULL");
    memset(&r, 0, sizeof r);
    r.path = path;
    r.f = calloc(1, sizeof *r.f);
    if (r.f == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    fd = vst_open_regular(path, &fsize);
    rc = fd < 0 ? VS_EIO : read_file(&r, fd, fsize);
    if (fd >= 0)
        (void)close(fd); /* read-only: nothing of it to lose */
    if (rc == VS_OK) {
        *out = r.f;
        r.f = NULL;
    }
    reader_free(&r);
    return rc;
}

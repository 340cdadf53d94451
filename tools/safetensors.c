/* varstore tools: reading and writing safetensors files. The JSON header is
 * parsed by SQLite's JSON functions (json_valid, json_type, json_each) in a
 * private in-memory connection; every field, offset and size is checked
 * before any tensor is built, so a hostile file yields one clear error. */
#define _GNU_SOURCE /* O_TMPFILE, AT_EMPTY_PATH */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "safetensors.h"
#include "vst.h"

static const struct {
    const char *name;
    vs_dtype dtype;
} st_types[] = {
    {"F16", VS_FLOAT16}, {"BF16", VS_BFLOAT16}, {"F32", VS_FLOAT32},
    {"F64", VS_FLOAT64}, {"I8", VS_INT8},       {"U8", VS_UINT8},
    {"I32", VS_INT32},   {"I64", VS_INT64},     {"BOOL", VS_BOOL},
};
#define N_ST_TYPES (sizeof st_types / sizeof st_types[0])

const char *vst_st_dtype_name(vs_dtype dtype)
{
    size_t i;
    for (i = 0; i < N_ST_TYPES; i++)
        if (st_types[i].dtype == dtype)
            return st_types[i].name;
    return NULL;
}

int vst_st_dtype_from_name(const char *name, vs_dtype *out)
{
    size_t i;
    for (i = 0; i < N_ST_TYPES; i++) {
        if (strcmp(st_types[i].name, name) == 0) {
            *out = st_types[i].dtype;
            return VS_OK;
        }
    }
    return vst_fail(VS_EDTYPE, "unknown dtype '%s'", name);
}

static int host_is_little(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

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

static int sql_fail(st_reader *r, const char *what)
{
    return vst_fail(VS_EIO, "%s: %s: %s", r->path, what,
                    r->db ? sqlite3_errmsg(r->db) : "no connection");
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

    sqlite3_reset(r->s_arr);
    if (sqlite3_bind_text(r->s_arr, 1, json, json_len, SQLITE_TRANSIENT) !=
        SQLITE_OK)
        return sql_fail(r, "cannot bind");
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

/* Parses one tensor entry (the JSON object text) into e. */
static int read_entry(st_reader *r, st_entry *e, const char *json,
                      int json_len)
{
    int rc, have_dtype = 0, have_shape = 0, have_off = 0, n;
    int64_t off[2];

    sqlite3_reset(r->s_fields);
    if (sqlite3_bind_text(r->s_fields, 1, json, json_len,
                          SQLITE_TRANSIENT) != SQLITE_OK)
        return sql_fail(r, "cannot bind");
    while ((rc = sqlite3_step(r->s_fields)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(r->s_fields, 0);
        const char *type = (const char *)sqlite3_column_text(r->s_fields, 1);
        const char *val = (const char *)sqlite3_column_text(r->s_fields, 2);
        int vlen = sqlite3_column_bytes(r->s_fields, 2);
        if (key == NULL || type == NULL)
            return vst_fail(VS_ECORRUPT, "%s: tensor '%s': bad field",
                            r->path, e->name);
        if (strcmp(key, "dtype") == 0) {
            if (have_dtype++)
                goto dup;
            if (strcmp(type, "text") != 0 || val == NULL)
                return vst_fail(VS_ECORRUPT,
                                "%s: tensor '%s': dtype is not a string",
                                r->path, e->name);
            if (vst_st_dtype_from_name(val, &e->dtype) != VS_OK)
                return vst_fail(VS_EDTYPE,
                                "%s: tensor '%s': unknown dtype '%s' (F16 "
                                "BF16 F32 F64 I8 U8 I32 I64 BOOL are read)",
                                r->path, e->name, val);
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++)
                goto dup;
            if (strcmp(type, "array") != 0)
                return vst_fail(VS_ECORRUPT,
                                "%s: tensor '%s': shape is not an array",
                                r->path, e->name);
            rc = read_int_array(r, e->name, "shape", val, vlen, e->shape,
                                VS_MAX_DIMS, &e->ndim);
            if (rc)
                return rc;
        } else if (strcmp(key, "data_offsets") == 0) {
            if (have_off++)
                goto dup;
            if (strcmp(type, "array") != 0)
                return vst_fail(VS_ECORRUPT,
                                "%s: tensor '%s': data_offsets is not an "
                                "array",
                                r->path, e->name);
            rc = read_int_array(r, e->name, "data_offsets", val, vlen, off, 2,
                                &n);
            if (rc)
                return rc;
            if (n != 2)
                return vst_fail(VS_ECORRUPT,
                                "%s: tensor '%s': data_offsets has %d "
                                "elements, not 2",
                                r->path, e->name, n);
            if (off[1] < off[0])
                return vst_fail(VS_ECORRUPT,
                                "%s: tensor '%s': data_offsets [%lld, %lld] "
                                "end before they begin",
                                r->path, e->name, (long long)off[0],
                                (long long)off[1]);
            e->begin = (uint64_t)off[0];
            e->end = (uint64_t)off[1];
        } else {
            return vst_fail(VS_ECORRUPT, "%s: tensor '%s': unknown field '%s'",
                            r->path, e->name, key);
        }
    }
    if (rc != SQLITE_DONE)
        return sql_fail(r, "cannot parse the header");
    sqlite3_reset(r->s_fields);
    if (!have_dtype || !have_shape || !have_off)
        return vst_fail(VS_ECORRUPT, "%s: tensor '%s': missing field '%s'",
                        r->path, e->name,
                        !have_dtype ? "dtype"
                        : !have_shape ? "shape" : "data_offsets");
    return VS_OK;
dup:
    return vst_fail(VS_ECORRUPT, "%s: tensor '%s': a field appears twice",
                    r->path, e->name);
}

static int read_metadata(st_reader *r, const char *json, int json_len)
{
    int rc;
    vst_st_file *f = r->f;

    sqlite3_reset(r->s_fields);
    if (sqlite3_bind_text(r->s_fields, 1, json, json_len,
                          SQLITE_TRANSIENT) != SQLITE_OK)
        return sql_fail(r, "cannot bind");
    while ((rc = sqlite3_step(r->s_fields)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(r->s_fields, 0);
        const char *type = (const char *)sqlite3_column_text(r->s_fields, 1);
        const char *val = (const char *)sqlite3_column_text(r->s_fields, 2);
        if (key == NULL || type == NULL || val == NULL ||
            strcmp(type, "text") != 0)
            return vst_fail(VS_ECORRUPT,
                            "%s: __metadata__ value of '%s' is not a string",
                            r->path, key ? key : "?");
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
        f->meta_values[f->n_meta] =
            dup_str(val, (size_t)sqlite3_column_bytes(r->s_fields, 2));
        if (f->meta_keys[f->n_meta] == NULL ||
            f->meta_values[f->n_meta] == NULL) {
            free(f->meta_keys[f->n_meta]);
            free(f->meta_values[f->n_meta]);
            return vst_fail(VS_ENOMEM, "out of memory");
        }
        f->n_meta++;
    }
    if (rc != SQLITE_DONE)
        return sql_fail(r, "cannot parse __metadata__");
    sqlite3_reset(r->s_fields);
    return VS_OK;
}

static int parse_header(st_reader *r, const char *hdr, size_t hlen)
{
    sqlite3_stmt *s = NULL;
    int rc, have_meta = 0;
    const char *type;

    if (sqlite3_open_v2(":memory:", &r->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK)
        return sql_fail(r, "cannot open SQLite");
    if (hlen > (size_t)INT32_MAX)
        return vst_fail(VS_ECORRUPT, "%s: header too long", r->path);
    if (sqlite3_prepare_v2(r->db, "SELECT json_valid(?1), CASE WHEN json_valid(?1) "
                           "THEN json_type(?1) END", -1,
                           &s, NULL) != SQLITE_OK)
        return sql_fail(r, "cannot prepare");
    if (sqlite3_bind_text(s, 1, hdr, (int)hlen, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(s);
        return sql_fail(r, "cannot bind");
    }
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = sql_fail(r, "cannot parse the header");
        sqlite3_finalize(s);
        return rc;
    }
    if (sqlite3_column_int(s, 0) != 1) {
        sqlite3_finalize(s);
        return vst_fail(VS_ECORRUPT, "%s: header is not valid JSON", r->path);
    }
    type = (const char *)sqlite3_column_text(s, 1);
    if (type == NULL || strcmp(type, "object") != 0) {
        sqlite3_finalize(s);
        return vst_fail(VS_ECORRUPT, "%s: header is not a JSON object",
                        r->path);
    }
    sqlite3_finalize(s);

    if (sqlite3_prepare_v2(r->db,
                           "SELECT key, type, value FROM json_each(?1)", -1,
                           &r->s_top, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db,
                           "SELECT key, type, value FROM json_each(?1)", -1,
                           &r->s_fields, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "SELECT type, atom FROM json_each(?1)", -1,
                           &r->s_arr, NULL) != SQLITE_OK)
        return sql_fail(r, "cannot prepare");
    if (sqlite3_bind_text(r->s_top, 1, hdr, (int)hlen, SQLITE_STATIC) !=
        SQLITE_OK)
        return sql_fail(r, "cannot bind");
    while ((rc = sqlite3_step(r->s_top)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(r->s_top, 0);
        const char *t = (const char *)sqlite3_column_text(r->s_top, 1);
        const char *val = (const char *)sqlite3_column_text(r->s_top, 2);
        int vlen = sqlite3_column_bytes(r->s_top, 2);
        st_entry *e;

        if (key == NULL || t == NULL)
            return vst_fail(VS_ECORRUPT, "%s: bad header entry", r->path);
        if (strcmp(key, "__metadata__") == 0) {
            if (have_meta++)
                return vst_fail(VS_ECORRUPT,
                                "%s: __metadata__ appears twice", r->path);
            if (strcmp(t, "object") != 0)
                return vst_fail(VS_ECORRUPT,
                                "%s: __metadata__ is not a JSON object",
                                r->path);
            rc = read_metadata(r, val, vlen);
            if (rc)
                return rc;
            continue;
        }
        if (strcmp(t, "object") != 0)
            return vst_fail(VS_ECORRUPT,
                            "%s: tensor '%s': entry is not a JSON object",
                            r->path, key);
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
        e->name = dup_str(key, (size_t)sqlite3_column_bytes(r->s_top, 0));
        if (e->name == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        r->n++;
        rc = read_entry(r, e, val, vlen);
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

int vst_st_read(const char *path, vst_st_file **out)
{
    st_reader r;
    FILE *fp = NULL;
    struct stat st;
    unsigned char lenb[8];
    uint64_t hlen = 0, fsize, data_off;
    char *hdr = NULL;
    size_t i;
    int rc;

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
    fp = fopen(path, "rb");
    if (fp == NULL) {
        rc = vst_fail(VS_EIO, "cannot open '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = vst_fail(VS_EIO, "'%s' is not a regular file", path);
        goto cleanup;
    }
    fsize = (uint64_t)st.st_size;
    if (fsize < 8 || fread(lenb, 1, 8, fp) != 8) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: truncated safetensors file (%llu bytes, the "
                      "header length alone is 8)",
                      path, (unsigned long long)fsize);
        goto cleanup;
    }
    for (i = 8; i-- > 0;)
        hlen = hlen << 8 | lenb[i];
    if (hlen > VST_ST_MAX_HEADER) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: header length %llu exceeds the 100 MB limit", path,
                      (unsigned long long)hlen);
        goto cleanup;
    }
    if (hlen > fsize - 8) {
        rc = vst_fail(VS_ECORRUPT,
                      "%s: header length %llu goes beyond the end of the "
                      "file (%llu bytes)",
                      path, (unsigned long long)hlen,
                      (unsigned long long)fsize);
        goto cleanup;
    }
    hdr = malloc((size_t)hlen + 1);
    if (hdr == NULL) {
        rc = vst_fail(VS_ENOMEM, "out of memory reading '%s'", path);
        goto cleanup;
    }
    if (fread(hdr, 1, (size_t)hlen, fp) != (size_t)hlen) {
        rc = vst_fail(VS_EIO, "cannot read the header of '%s'", path);
        goto cleanup;
    }
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', (size_t)hlen) != NULL) {
        rc = vst_fail(VS_ECORRUPT, "%s: header is not valid JSON", path);
        goto cleanup;
    }
    /* SQLite's JSON functions cut a string at an escaped NUL: refuse it
     * rather than let "a\u0000b" become "a". */
    for (i = 0; i + 1 < (size_t)hlen; i++) {
        if (hdr[i] != '\\')
            continue;
        if (hdr[i + 1] == 'u' && i + 5 < (size_t)hlen &&
            memcmp(hdr + i + 2, "0000", 4) == 0) {
            rc = vst_fail(VS_ECORRUPT,
                          "%s: header has a NUL character (\\u0000) in a "
                          "string",
                          path);
            goto cleanup;
        }
        i++; /* skip the escaped character */
    }
    rc = parse_header(&r, hdr, (size_t)hlen);
    if (rc)
        goto cleanup;
    data_off = 8 + hlen;
    rc = check_layout(&r, fsize - data_off);
    if (rc)
        goto cleanup;

    /* All checked: build the tensors (sorted by name). */
    r.f->names = calloc(r.n ? r.n : 1, sizeof *r.f->names);
    r.f->tensors = calloc(r.n ? r.n : 1, sizeof *r.f->tensors);
    if (r.f->names == NULL || r.f->tensors == NULL) {
        rc = vst_fail(VS_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (i = 0; i < r.n; i++) {
        st_entry *e = &r.e[i];
        vs_tensor *t = NULL;
        rc = vs_tensor_new(e->dtype, e->ndim, e->shape, &t);
        if (rc) {
            rc = vst_fail(rc, "%s: tensor '%s': %s", path, e->name,
                          vs_errmsg());
            goto cleanup;
        }
        r.f->names[i] = e->name;
        e->name = NULL;
        r.f->tensors[i] = t;
        r.f->n = i + 1;
        if (e->nbytes == 0)
            continue;
        if (fseeko(fp, (off_t)(data_off + e->begin), SEEK_SET) != 0 ||
            fread(t->data, 1, e->nbytes, fp) != e->nbytes) {
            rc = vst_fail(VS_EIO, "cannot read tensor '%s' of '%s'",
                          r.f->names[i], path);
            goto cleanup;
        }
        if (!host_is_little())
            vst_byteswap(t->data, e->nbytes / vs_dtype_size(e->dtype),
                         vs_dtype_size(e->dtype));
        if (e->dtype == VS_BOOL) {
            char *what = sqlite3_mprintf("%s: tensor '%s'", path,
                                         r.f->names[i]);
            if (what == NULL) {
                rc = vst_fail(VS_ENOMEM, "out of memory");
                goto cleanup;
            }
            rc = vst_check_bools(t->data, e->nbytes, what);
            sqlite3_free(what);
            if (rc)
                goto cleanup;
        }
    }
    *out = r.f;
    r.f = NULL;
    rc = VS_OK;
cleanup:
    for (i = 0; i < r.n; i++)
        free(r.e[i].name);
    free(r.e);
    sqlite3_finalize(r.s_top);
    sqlite3_finalize(r.s_fields);
    sqlite3_finalize(r.s_arr);
    if (r.db != NULL)
        sqlite3_close(r.db);
    free(hdr);
    if (fp != NULL)
        fclose(fp);
    vst_st_free(r.f);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        char *np;
        while (nc < b->len + n + 1) {
            if (nc > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            nc *= 2;
        }
        np = realloc(b->p, nc);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_json_str(sbuf_t *b, const char *s)
{
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_add(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            sb_add(b, e, 6);
        } else {
            sb_add(b, s, 1);
        }
    }
    sb_add(b, "\"", 1);
}

struct vst_st_writer {
    char *path, *tmp;
    int fd;
    int anon; /* fd is an O_TMPFILE file: no name until the commit */
    size_t n;
    uint64_t data_start, total; /* header end; data section size */
    uint64_t *off;              /* n tensor offsets in the data section */
    uint64_t *len;              /* n tensor sizes */
    size_t *es;                 /* n element sizes */
};

static void writer_free(vst_st_writer *w)
{
    if (w == NULL)
        return;
    free(w->path);
    free(w->tmp);
    free(w->off);
    free(w->len);
    free(w->es);
    free(w);
}

/* The folder path is in ("." for a bare name); NULL: out of memory. */
static char *dir_of(const char *path)
{
    const char *sl = strrchr(path, '/');
    size_t len = sl == NULL ? 1 : sl == path ? 1 : (size_t)(sl - path);
    char *d = malloc(len + 1);
    if (d == NULL)
        return NULL;
    if (sl == NULL)
        memcpy(d, ".", 1);
    else
        memcpy(d, sl == path ? "/" : path, len);
    d[len] = '\0';
    return d;
}

/* Gives w's O_TMPFILE file the name w->tmp (a fresh one). 0 or errno. */
static int link_anon(vst_st_writer *w)
{
    char proc[64];
    size_t plen = strlen(w->path);
    static _Atomic unsigned long counter;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
    for (int tries = 0; tries < 100; tries++) {
        snprintf(w->tmp, plen + 64, "%s.tmp-%ld-%lu", w->path,
                 (long)getpid(), counter++);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, w->tmp, AT_SYMLINK_FOLLOW) ==
            0)
            return 0;
        if (errno == EEXIST)
            continue;
#ifdef AT_EMPTY_PATH
        /* without /proc: the direct form (needs CAP_DAC_READ_SEARCH) */
        if (linkat(w->fd, "", AT_FDCWD, w->tmp, AT_EMPTY_PATH) == 0)
            return 0;
#endif
        return errno;
    }
    return EEXIST;
}

/* fsync of the folder path is in, so that its new name is durable.
 * 0 or errno (EINVAL, a folder that cannot be synced, counts as done). */
static int sync_dir_of(const char *path)
{
    char *dir = dir_of(path);
    int fd, e = 0;
    if (dir == NULL)
        return ENOMEM;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return errno;
    if (fsync(fd) != 0 && errno != EINVAL)
        e = errno;
    (void)close(fd); /* read-only: nothing of it to lose */
    return e;
}

int vst_st_create(const char *path, const vst_st_desc *d, size_t n,
                  const char *const *meta_keys,
                  const char *const *meta_values, size_t n_meta,
                  vst_st_writer **out)
{
    sbuf_t b = {0};
    char num[96];
    size_t i, j, off = 0, nbytes, plen;
    unsigned char lenb[8];
    uint64_t hlen;
    vst_st_writer *w;
    int rc = VS_OK, k;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL || (n > 0 && d == NULL) ||
        (n_meta > 0 && (meta_keys == NULL || meta_values == NULL)))
        return vst_fail(VS_EINVAL, "vst_st_create: NULL argument");
    for (i = 0; i < n; i++) {
        if (d[i].name == NULL || (d[i].ndim > 0 && d[i].shape == NULL))
            return vst_fail(VS_EINVAL, "vst_st_create: NULL tensor or name");
        if (strcmp(d[i].name, "__metadata__") == 0)
            return vst_fail(VS_EINVAL,
                            "%s: a tensor cannot be named '__metadata__'",
                            path);
        for (j = 0; j < i; j++)
            if (strcmp(d[i].name, d[j].name) == 0)
                return vst_fail(VS_EINVAL, "%s: duplicate tensor name '%s'",
                                path, d[i].name);
    }
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    w->fd = -1;
    w->n = n;
    w->off = calloc(n + 1, sizeof *w->off);
    w->len = calloc(n + 1, sizeof *w->len);
    w->es = calloc(n + 1, sizeof *w->es);
    plen = strlen(path);
    w->path = malloc(plen + 1);
    w->tmp = malloc(plen + 64);
    if (w->off == NULL || w->len == NULL || w->es == NULL ||
        w->path == NULL || w->tmp == NULL) {
        writer_free(w);
        return vst_fail(VS_ENOMEM, "out of memory");
    }
    memcpy(w->path, path, plen + 1);
    sb_str(&b, "{");
    if (n_meta > 0) {
        sb_str(&b, "\"__metadata__\":{");
        for (i = 0; i < n_meta; i++) {
            if (i)
                sb_str(&b, ",");
            sb_json_str(&b, meta_keys[i]);
            sb_str(&b, ":");
            sb_json_str(&b, meta_values[i]);
        }
        sb_str(&b, "}");
    }
    for (i = 0; i < n; i++) {
        const char *dn = vst_st_dtype_name(d[i].dtype);
        if (dn == NULL) {
            rc = vst_fail(VS_EDTYPE, "%s: tensor '%s' has an invalid dtype",
                          path, d[i].name);
            break;
        }
        rc = vs_shape_check(d[i].dtype, d[i].ndim, d[i].shape, NULL,
                            &nbytes);
        if (rc) {
            rc = vst_fail(rc, "%s: tensor '%s': %s", path, d[i].name,
                          vs_errmsg());
            break;
        }
        if (i || n_meta)
            sb_str(&b, ",");
        sb_json_str(&b, d[i].name);
        sb_str(&b, ":{\"dtype\":\"");
        sb_str(&b, dn);
        sb_str(&b, "\",\"shape\":[");
        for (k = 0; k < d[i].ndim; k++) {
            snprintf(num, sizeof num, "%s%lld", k ? "," : "",
                     (long long)d[i].shape[k]);
            sb_str(&b, num);
        }
        if (vst_add_size(off, nbytes, &j) != 0) {
            rc = vst_fail(VS_EINVAL, "%s: total size overflows", path);
            break;
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, j);
        sb_str(&b, num);
        w->off[i] = off;
        w->len[i] = nbytes;
        w->es[i] = vs_dtype_size(d[i].dtype);
        off = j;
    }
    sb_str(&b, "}");
    while (!b.oom && b.len % 8 != 0) /* the reference writer's alignment */
        sb_str(&b, " ");
    if (rc == VS_OK && b.oom)
        rc = vst_fail(VS_ENOMEM, "out of memory");
    if (rc == VS_OK && (uint64_t)off > (uint64_t)INT64_MAX - 8 - b.len)
        rc = vst_fail(VS_EINVAL, "%s: total size overflows", path);
    if (rc != VS_OK) {
        free(b.p);
        writer_free(w);
        return rc;
    }
    hlen = b.len;
    w->data_start = 8 + hlen;
    w->total = off;
    for (k = 0; k < 8; k++)
        lenb[k] = (unsigned char)(hlen >> (8 * k));

    {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            free(b.p);
            writer_free(w);
            return vst_fail(VS_EIO, "cannot write '%s': %s", path,
                            strerror(EISDIR));
        }
    }
    /* The data goes to a file with no name (O_TMPFILE) in path's folder,
     * linked under a temporary name and renamed over path by the commit:
     * a process killed before it leaves nothing behind. Where O_TMPFILE
     * is not supported, a named temporary file beside path. Either is
     * created with mode 0666 less the umask, as fopen would create path
     * itself (mkstemp's 0600 would stay on the renamed file); O_EXCL and
     * a fresh name per try keep a named one private to this call. */
#ifdef O_TMPFILE
    {
        char *dir = dir_of(path);
        if (dir == NULL) {
            free(b.p);
            writer_free(w);
            return vst_fail(VS_ENOMEM, "out of memory");
        }
        w->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        w->anon = w->fd >= 0;
        free(dir);
    }
#endif
    if (w->fd < 0) {
        static _Atomic unsigned long counter;
        unsigned long tries;
        for (tries = 0; tries < 100; tries++) {
            snprintf(w->tmp, plen + 64, "%s.tmp-%ld-%lu", path,
                     (long)getpid(), counter++);
            w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                         0666);
            if (w->fd >= 0 || errno != EEXIST)
                break;
        }
    }
    if (w->fd < 0) {
        rc = vst_fail(VS_EIO, "cannot create a file beside '%s': %s", path,
                      strerror(errno));
        free(b.p);
        writer_free(w);
        return rc;
    }
    if (vst_pwrite_all(w->fd, lenb, 8, 0) != 0 ||
        vst_pwrite_all(w->fd, b.p, b.len, 8) != 0) {
        rc = vst_fail(VS_EIO, "cannot write '%s': %s", path,
                      strerror(errno));
        free(b.p);
        vst_st_discard(w);
        return rc;
    }
    free(b.p);
    *out = w;
    return VS_OK;
}

int vst_st_put(vst_st_writer *w, size_t i, uint64_t off, const void *data,
               size_t len)
{
    const unsigned char *p = data;
    unsigned char *sw = NULL;
    int rc = VS_OK;
    if (w == NULL || i >= w->n || (len > 0 && data == NULL))
        return vst_fail(VS_EINVAL, "vst_st_put: bad argument");
    if (off > w->len[i] || len > w->len[i] - off ||
        (w->es[i] > 1 && (off % w->es[i] != 0 || len % w->es[i] != 0)))
        return vst_fail(VS_EINVAL,
                        "%s: bytes [%llu, +%zu) do not fit tensor %zu", w->path,
                        (unsigned long long)off, len, i);
    if (len == 0)
        return VS_OK;
    if (!host_is_little() && w->es[i] > 1) {
        sw = malloc(len);
        if (sw == NULL)
            return vst_fail(VS_ENOMEM, "out of memory");
        memcpy(sw, data, len);
        vst_byteswap(sw, len / w->es[i], w->es[i]);
        p = sw;
    }
    if (vst_pwrite_all(w->fd, p, len, w->data_start + w->off[i] + off) != 0)
        rc = vst_fail(VS_EIO, "cannot write '%s': %s", w->path,
                      strerror(errno));
    free(sw);
    return rc;
}

int vst_st_commit(vst_st_writer *w)
{
    struct stat st;
    int rc = VS_OK, e = 0;
    if (w == NULL)
        return vst_fail(VS_EINVAL, "vst_st_commit: NULL argument");
    /* The file must be exactly header + data long: a last tensor never
     * put leaves it short. (Bytes missing before the end would be a hole
     * of zeros, which only the caller can rule out: restore puts every
     * byte the library checked.) */
    if (fstat(w->fd, &st) != 0) {
        e = errno;
    } else if ((uint64_t)st.st_size != w->data_start + w->total) {
        rc = vst_fail(VS_EIO, "cannot write '%s': %llu bytes written of "
                      "%llu", w->path, (unsigned long long)st.st_size,
                      (unsigned long long)(w->data_start + w->total));
        vst_st_discard(w);
        return rc;
    }
    if (e == 0 && fsync(w->fd) != 0)
        e = errno;
    if (e == 0 && w->anon) {
        e = link_anon(w);
        if (e == 0)
            w->anon = 0; /* it has a name now: w->tmp */
    }
    if (close(w->fd) != 0 && e == 0)
        e = errno;
    w->fd = -1;
    if (e == 0 && rename(w->tmp, w->path) != 0)
        e = errno;
    if (e != 0) {
        rc = vst_fail(VS_EIO, "cannot write '%s': %s", w->path, strerror(e));
        if (!w->anon)
            (void)unlink(w->tmp); /* already failing: best effort */
    } else {
        e = sync_dir_of(w->path);
        if (e != 0)
            rc = vst_fail(VS_EIO, "cannot make '%s' durable: %s", w->path,
                          strerror(e));
    }
    writer_free(w);
    return rc;
}

void vst_st_discard(vst_st_writer *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0)
        (void)close(w->fd); /* a nameless file is gone with it */
    if (!w->anon)
        (void)unlink(w->tmp); /* best effort: nothing to report to */
    writer_free(w);
}

int vst_st_write(const char *path, const char *const *names,
                 const vs_tensor *const *tensors, size_t n,
                 const char *const *meta_keys, const char *const *meta_values,
                 size_t n_meta)
{
    vst_st_desc *d;
    vst_st_writer *w = NULL;
    size_t i;
    int rc;

    if (path == NULL || (n > 0 && (names == NULL || tensors == NULL)))
        return vst_fail(VS_EINVAL, "vst_st_write: NULL argument");
    for (i = 0; i < n; i++)
        if (names[i] == NULL || tensors[i] == NULL)
            return vst_fail(VS_EINVAL, "vst_st_write: NULL tensor or name");
    d = calloc(n + 1, sizeof *d);
    if (d == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        d[i].name = names[i];
        d[i].dtype = tensors[i]->dtype;
        d[i].ndim = tensors[i]->ndim;
        d[i].shape = tensors[i]->shape;
    }
    rc = vst_st_create(path, d, n, meta_keys, meta_values, n_meta, &w);
    free(d);
    for (i = 0; rc == VS_OK && i < n; i++)
        rc = vst_st_put(w, i, 0, tensors[i]->data,
                        vs_tensor_nbytes(tensors[i]));
    if (rc != VS_OK) {
        vst_st_discard(w);
        return rc;
    }
    return vst_st_commit(w);
}

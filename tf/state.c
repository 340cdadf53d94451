/* varstore tf/: the `checkpoint` state file TF writes beside its
 * checkpoints, a CheckpointState in protobuf text format:
 *   model_checkpoint_path: "model.ckpt-200"
 *   all_model_checkpoint_paths: "model.ckpt-100"
 *   all_model_checkpoint_paths: "model.ckpt-200"
 *   all_model_checkpoint_timestamps: 1700000000.5   (TF 2)
 * Paths are relative to the file's folder or absolute. Strings use the text
 * format's C escapes (\n \t \" \\ \' \ooo \xhh ...); adjacent strings are
 * concatenated; '#' starts a comment. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tf_int.h"

#define MAX_STATE_BYTES (1u << 20)

typedef struct {
    const char *p, *end, *start;
    const char *path;
} lexer;

static void skip_space(lexer *l)
{
    while (l->p < l->end) {
        if (*l->p == '#') {
            while (l->p < l->end && *l->p != '\n')
                l->p++;
        } else if (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' ||
                   *l->p == '\r' || *l->p == ',' || *l->p == ';') {
            l->p++;
        } else {
            return;
        }
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One escape after '\\'; appends its byte. */
static int unescape(lexer *l, vs__tf_buf *out)
{
    static const char from[] = "ntrabfv\\'\"?", to[] = "\n\t\r\a\b\f\v\\'\"?";
    const char *k;
    unsigned v = 0;
    int n = 0;
    char c;
    if (l->p >= l->end)
        return -1;
    c = *l->p++;
    k = c != '\0' ? strchr(from, c) : NULL;
    if (k != NULL) {
        vs__tfbuf_put(out, &to[k - from], 1);
        return 0;
    }
    if (c >= '0' && c <= '7') {
        v = (unsigned)(c - '0');
        for (; n < 2 && l->p < l->end && *l->p >= '0' && *l->p <= '7'; n++)
            v = v * 8 + (unsigned)(*l->p++ - '0');
    } else if (c == 'x') {
        for (; n < 2 && l->p < l->end && hexval(*l->p) >= 0; n++)
            v = v * 16 + (unsigned)hexval(*l->p++);
        if (n == 0)
            return -1;
    } else {
        return -1;
    }
    if (v > 255)
        return -1;
    uint8_t byte = (uint8_t)v;
    vs__tfbuf_put(out, &byte, 1);
    return 0;
}

/* One or more adjacent quoted strings. */
static int read_string(lexer *l, vs__tf_buf *out)
{
    int any = 0;
    while (l->p < l->end && (*l->p == '"' || *l->p == '\'')) {
        char q = *l->p++;
        any = 1;
        while (l->p < l->end && *l->p != q) {
            if (*l->p == '\n')
                return -1;
            if (*l->p == '\\') {
                l->p++;
                if (unescape(l, out) != 0)
                    return -1;
            } else {
                vs__tfbuf_put(out, l->p++, 1);
            }
        }
        if (l->p >= l->end)
            return -1;
        l->p++;
        skip_space(l);
    }
    return any ? 0 : -1;
}

static int parse(lexer *l, char **model_out)
{
    vs__tf_buf val = {0};
    int found = 0;
    for (skip_space(l); l->p < l->end; skip_space(l)) {
        const char *id = l->p;
        size_t idlen;
        while (l->p < l->end && (*l->p == '_' || (*l->p >= 'a' && *l->p <= 'z') ||
                                 (*l->p >= 'A' && *l->p <= 'Z') ||
                                 (*l->p >= '0' && *l->p <= '9')))
            l->p++;
        idlen = (size_t)(l->p - id);
        skip_space(l);
        if (idlen == 0 || l->p >= l->end || *l->p != ':')
            goto bad;
        l->p++;
        skip_space(l);
        if (l->p < l->end && (*l->p == '"' || *l->p == '\'')) {
            val.len = 0;
            if (read_string(l, &val) != 0)
                goto bad;
            if (idlen == 21 && memcmp(id, "model_checkpoint_path", 21) == 0) {
                if (val.len == 0 || memchr(val.p, '\0', val.len) != NULL)
                    goto bad; /* empty, or a NUL byte: no usable path */
                vs__free(*model_out);
                *model_out = vs__strndup((const char *)val.p, val.len);
                if (*model_out == NULL || val.oom) {
                    vs__tfbuf_free(&val);
                    return vs__fail(VS_ENOMEM, "out of memory");
                }
                found = 1;
            }
        } else {
            while (l->p < l->end && strchr(" \t\r\n,;#", *l->p) == NULL)
                l->p++; /* a number (timestamps) */
        }
    }
    vs__tfbuf_free(&val);
    if (!found)
        return vs__fail(VS_ENOTFOUND, "%s: no model_checkpoint_path",
                        l->path);
    return VS_OK;
bad:
    vs__tfbuf_free(&val);
    return vs__fail(VS_ECORRUPT,
                    "%s: not a checkpoint state file (text CheckpointState) "
                    "near byte %ld",
                    l->path, (long)(l->p - l->start));
}

int vs__tf_state_read(const char *path, char **model_path_out)
{
    char *text;
    size_t n;
    FILE *f = fopen(path, "rb");
    lexer l;
    int rc;
    *model_path_out = NULL;
    if (f == NULL)
        return vs__fail(errno == ENOENT ? VS_ENOTFOUND : VS_EIO,
                        "%s: cannot open: %s", path, strerror(errno));
    text = vs__malloc(MAX_STATE_BYTES + 1);
    if (text == NULL) {
        fclose(f);
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    n = fread(text, 1, MAX_STATE_BYTES + 1, f);
    rc = ferror(f) ? vs__fail(VS_EIO, "%s: read failed", path) : VS_OK;
    fclose(f);
    if (rc == VS_OK && n > MAX_STATE_BYTES)
        rc = vs__fail(VS_ECORRUPT, "%s: checkpoint state file over 1 MiB",
                      path);
    if (rc == VS_OK) {
        l.p = l.start = text;
        l.end = text + n;
        l.path = path;
        rc = parse(&l, model_path_out);
    }
    vs__free(text);
    if (rc != VS_OK) {
        vs__free(*model_path_out);
        *model_path_out = NULL;
    }
    return rc;
}

static void put_escaped(vs__tf_buf *b, const char *s)
{
    vs__tfbuf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        if (*p == '"' || *p == '\\' || *p == '\'') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            vs__tfbuf_put(b, tmp, 2);
        } else if (*p < 0x20 || *p >= 0x7f) {
            snprintf(tmp, sizeof tmp, "\\%03o", *p);
            vs__tfbuf_put(b, tmp, 4);
        } else {
            vs__tfbuf_put(b, p, 1);
        }
    }
    vs__tfbuf_put(b, "\"\n", 2);
}

char *vs__tf_state_text(const char *model_path)
{
    vs__tf_buf b = {0};
    vs__tfbuf_put(&b, "model_checkpoint_path: ", 23);
    put_escaped(&b, model_path);
    vs__tfbuf_put(&b, "all_model_checkpoint_paths: ", 28);
    put_escaped(&b, model_path);
    vs__tfbuf_put(&b, "", 1); /* the terminating NUL */
    if (b.oom) {
        vs__tfbuf_free(&b);
        return NULL;
    }
    return (char *)b.p;
}

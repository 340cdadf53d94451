/* oc_result: the text lines and tensor a case produced, and the JSON and
 * TF-style formatting the cases share. */
#include "oc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void oc_result_free(oc_result *r)
{
    free(r->text);
    vs_tensor_free(r->tensor);
    memset(r, 0, sizeof *r);
}

static int reserve(oc_result *r, size_t extra)
{
    size_t want = r->len + extra + 1, cap = r->cap ? r->cap : 256;
    char *p;
    if (want <= r->cap)
        return 1;
    while (cap < want)
        cap *= 2;
    p = realloc(r->text, cap);
    if (!p)
        return 0;
    r->text = p;
    r->cap = cap;
    return 1;
}

void oc_line(oc_result *r, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(r, (size_t)n + 1)) {
        r->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(r->text + r->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
    r->text[r->len++] = '\n';
    r->text[r->len] = '\0';
}

const char *oc_code_name(int code)
{
    static const char *const names[] = {
        "VS_OK",    "VS_ERROR",   "VS_EEXIST", "VS_ENOTFOUND", "VS_ESHAPE",
        "VS_EDTYPE", "VS_EUNINIT", "VS_EINVAL", "VS_ECORRUPT",  "VS_EIO",
        "VS_ENOMEM", "VS_EBUSY",  "VS_ERESTORING", "VS_ECHANGED"};
    if (code > 0 || -code >= (int)(sizeof names / sizeof names[0]))
        return "VS_E?";
    return names[-code];
}

void oc_rc(oc_result *r, int rc)
{
    if (rc == VS_OK)
        oc_line(r, "ok");
    else
        oc_line(r, "error %s: %s", oc_code_name(rc), vs_errmsg());
}

void oc_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t at = 0;
    int i;
    at += (size_t)snprintf(buf, n, "(");
    for (i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? ", " : "",
                               (long long)shape[i]);
    if (at < n)
        snprintf(buf + at, n - at, ndim == 1 ? ",)" : ")");
}

void oc_var(oc_result *r, const vs_var *v)
{
    int64_t dims[VS_MAX_DIMS];
    char shp[160];
    int nd = vs_var_shape(v, dims);
    oc_shape_str(nd, dims, shp, sizeof shp);
    oc_line(r, "var %s %s %s trainable=%d", vs_var_name(v), shp,
            vs_dtype_name(vs_var_dtype(v)), vs_var_trainable(v));
}

void oc_run(const oc_case *c, oc_result *r)
{
    int rc = c->run(c, r);
    if (rc != VS_OK) {
        vs_tensor_free(r->tensor);
        r->tensor = NULL;
        oc_rc(r, rc);
    }
}

void oc_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void oc_json_shape(FILE *f, int ndim, const int64_t *shape)
{
    int i;
    fputc('[', f);
    for (i = 0; i < ndim; i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)shape[i]);
    fputc(']', f);
}

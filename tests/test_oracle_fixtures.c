/* What TensorFlow produced (tests/fixtures/oracle/, written by
 * tests/oracle/oracle.py --write-fixtures) against what varstore computes
 * now for the same cases (tests/oracle/oc_*.c): names, reuse decisions,
 * error codes and texts, collections and partitions line for line,
 * initializer values bit for bit, conv2d and pools within the bound
 * oracle.py states. Runs without TensorFlow.
 *
 * Cases in tests/oracle/known_mismatches.txt differ from TF today: for them
 * the test asserts that they STILL differ, so that a fix shows (then the
 * line goes). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "oc.h"

#define MAX_ROWS 512
#define FIELDS 8

/* One manifest line: name kind dtype shape tolerance nbytes crc32 file. */
typedef struct {
    char f[FIELDS][128];
} row;

static row rows[MAX_ROWS];
static size_t n_rows;
static char known[64][96];
static size_t n_known;

static int split(char *line, row *r)
{
    char *p = line, *tab;
    int i;
    line[strcspn(line, "\r\n")] = '\0';
    for (i = 0; i < FIELDS; i++) {
        tab = strchr(p, '\t');
        if (tab)
            *tab = '\0';
        if (strlen(p) >= sizeof r->f[i])
            return -1;
        strcpy(r->f[i], p);
        if (!tab)
            return i == FIELDS - 1 ? 0 : -1;
        p = tab + 1;
    }
    return -1;
}

static void load_known(void)
{
    char line[1024];
    FILE *f = fopen(VS_ORACLE_KNOWN, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\t\r\n");
        if (line[0] == '#' || n == 0)
            continue;
        assert_true(n < sizeof known[0] && n_known < 64);
        memcpy(known[n_known], line, n);
        known[n_known++][n] = '\0';
    }
    fclose(f);
}

static int setup(void **state)
{
    char line[1024];
    FILE *f = fopen(VS_ORACLE_FIXTURES "/manifest.tsv", "r");
    (void)state;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f) && n_rows < MAX_ROWS)
        if (split(line, &rows[n_rows++]) != 0) {
            fclose(f);
            return -1;
        }
    fclose(f);
    load_known();
    return n_rows ? 0 : -1;
}

static int is_known(const char *name)
{
    size_t i;
    for (i = 0; i < n_known; i++)
        if (strcmp(known[i], name) == 0)
            return 1;
    return 0;
}

static const row *find_row(const char *name)
{
    size_t i;
    for (i = 0; i < n_rows; i++)
        if (strcmp(rows[i].f[0], name) == 0)
            return &rows[i];
    return NULL;
}

static unsigned char *read_fixture(const char *fname, size_t want)
{
    char path[512];
    unsigned char *buf = malloc(want + 1);
    FILE *f;
    size_t got;
    assert_non_null(buf);
    snprintf(path, sizeof path, "%s/%s", VS_ORACLE_FIXTURES, fname);
    f = fopen(path, "rb");
    assert_non_null(f);
    got = fread(buf, 1, want + 1, f);
    fclose(f);
    assert_int_equal(got, want);
    buf[want] = '\0';
    return buf;
}

/* NULL when r's lines are the fixture's, else why not (static text). */
static const char *diff_lines(const row *w, const oc_result *r, char *why,
                              size_t n)
{
    size_t nb = (size_t)strtoull(w->f[5], NULL, 10);
    unsigned char *want = read_fixture(w->f[7], nb);
    const char *text = r->text ? r->text : "";
    const char *res = NULL;
    if (r->tensor)
        res = "varstore gives a tensor, TF gives lines";
    else if (strcmp((const char *)want, text) != 0) {
        snprintf(why, n, "TF:\n%svarstore:\n%s", (const char *)want, text);
        res = why;
    }
    free(want);
    return res;
}

static int same_shape(const row *w, const vs_tensor *t)
{
    char buf[128] = "";
    size_t at = 0;
    int i;
    for (i = 0; i < t->ndim; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%lld",
                               i ? "," : "", (long long)t->shape[i]);
    return strcmp(buf, w->f[3]) == 0;
}

/* Elementwise |a - b| <= tol, for float32 op outputs. */
static int within(const float *a, const float *b, size_t n, double tol,
                  double *worst)
{
    size_t i;
    *worst = 0;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= *worst))
            *worst = d;
    }
    return *worst <= tol;
}

/* Bit for bit: against the .bin when there is one (reporting the first
 * differing element), else (large tensors) against the CRC-32. */
static const char *diff_bits(const row *w, const vs_tensor *t, char *why,
                             size_t n)
{
    size_t nb = vs_tensor_nbytes(t), es = vs_dtype_size(t->dtype), i;
    unsigned char *want;
    if (strcmp(w->f[7], "-") == 0)
        return crc32(0L, t->data, (uInt)nb) == strtoul(w->f[6], NULL, 16)
                   ? NULL
                   : "values differ (CRC-32 of the large tensor)";
    want = read_fixture(w->f[7], nb);
    assert_int_equal(crc32(0L, want, (uInt)nb), strtoul(w->f[6], NULL, 16));
    for (i = 0; i < nb && want[i] == ((const unsigned char *)t->data)[i]; i++)
        ;
    free(want);
    if (i == nb)
        return NULL;
    snprintf(why, n, "element %zu (of %zu) differs in its bits", i / es,
             nb / es);
    return why;
}

static const char *diff_values(const row *w, const vs_tensor *t,
                               double tol, char *why, size_t n)
{
    size_t nb = vs_tensor_nbytes(t);
    unsigned char *want;
    double worst = 0;
    int ok;
    if (strcmp(vs_dtype_name(t->dtype), w->f[2]) != 0 || !same_shape(w, t))
        return "dtype or shape differs";
    if (nb != (size_t)strtoull(w->f[5], NULL, 10))
        return "byte size differs";
    if (tol == 0)
        return diff_bits(w, t, why, n);
    if (strcmp(w->f[7], "-") == 0 || t->dtype != VS_FLOAT32)
        return "no float32 fixture to compare within the tolerance";
    want = read_fixture(w->f[7], nb);
    ok = within(t->data, (const float *)(const void *)want, nb / 4, tol,
                &worst);
    free(want);
    if (ok)
        return NULL;
    snprintf(why, n, "max |diff| %.3g > tolerance %.3g", worst, tol);
    return why;
}

/* NULL when varstore now computes what TF produced for w's case. */
static const char *differs(const row *w, char *why, size_t n)
{
    const oc_case *c = oc_find(w->f[0]);
    oc_result r;
    const char *d;
    if (!c)
        return "no such case in the driver (regenerate the fixtures)";
    memset(&r, 0, sizeof r);
    oc_run(c, &r);
    if (r.oom)
        d = "out of memory";
    else if (strcmp(w->f[1], "lines") == 0)
        d = diff_lines(w, &r, why, n);
    else if (!r.tensor)
        snprintf(why, n, "TF gives a tensor; varstore:\n%s",
                 r.text ? r.text : ""), d = why;
    else
        d = diff_values(w, r.tensor, strtod(w->f[4], NULL), why, n);
    oc_result_free(&r);
    return d;
}

/* Checks every row whose name starts with prefix (and is not a known
 * mismatch, nor refused by TF): all must match. */
static void check_group(const char *prefix)
{
    static char why[16384];
    size_t i, checked = 0, bad = 0;
    for (i = 0; i < n_rows; i++) {
        const row *w = &rows[i];
        const char *d;
        if (strncmp(w->f[0], prefix, strlen(prefix)) != 0 ||
            is_known(w->f[0]) || strcmp(w->f[1], "refused") == 0)
            continue;
        checked++;
        d = differs(w, why, sizeof why);
        if (d) {
            print_error("%s differs from TensorFlow: %s\n", w->f[0], d);
            bad++;
        }
    }
    print_message("%zu %s cases match TensorFlow, %zu differ\n",
                  checked - bad, prefix, bad);
    assert_true(checked > 0);
    assert_int_equal(bad, 0);
}

static void test_names_reuse_errors_and_partitions_match_tf(void **state)
{
    (void)state;
    check_group("names.");
    check_group("reuse.");
    check_group("partition.");
}

static void test_initializer_values_match_tf_bit_for_bit(void **state)
{
    (void)state;
    check_group("init.");
}

static void test_conv_and_pool_outputs_match_tf_within_bound(void **state)
{
    (void)state;
    check_group("op.");
}

/* A fix flips one of these: then delete its line in known_mismatches.txt. */
static void test_known_mismatches_still_differ(void **state)
{
    static char why[16384];
    size_t i, fixed = 0;
    (void)state;
    assert_true(n_known > 0);
    for (i = 0; i < n_known; i++) {
        const row *w = find_row(known[i]);
        if (!w) {
            print_error("%s: known mismatch without a fixture\n", known[i]);
            fixed++;
            continue;
        }
        if (differs(w, why, sizeof why) == NULL) {
            print_error("%s now matches TensorFlow: delete it from "
                        "known_mismatches.txt\n", known[i]);
            fixed++;
        }
    }
    assert_int_equal(fixed, 0);
}

/* Every case the driver runs has TF's result (or TF's refusal) here. */
static void test_every_case_has_a_fixture(void **state)
{
    size_t i, missing = 0;
    (void)state;
    for (i = 0; i < oc_num_cases(); i++)
        if (!find_row(oc_case_at(i)->name)) {
            print_error("%s has no fixture: run oracle.py "
                        "--write-fixtures\n", oc_case_at(i)->name);
            missing++;
        }
    assert_true(oc_num_cases() > 0);
    assert_int_equal(missing, 0);
    assert_int_equal(n_rows, oc_num_cases());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_case_has_a_fixture),
        cmocka_unit_test(test_names_reuse_errors_and_partitions_match_tf),
        cmocka_unit_test(test_initializer_values_match_tf_bit_for_bit),
        cmocka_unit_test(test_conv_and_pool_outputs_match_tf_within_bound),
        cmocka_unit_test(test_known_mismatches_still_differ),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}

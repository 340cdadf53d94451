/* Test support: a per-test temporary file (setup/teardown) and whole-file
 * read/write helpers, shared by the format tests. Include after cmocka.h,
 * with TMP_PREFIX and TMP_SUFFIX defined (the temporary file's name). */
#ifndef VS_TEST_FILE_UTIL_H
#define VS_TEST_FILE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_path[512];

static const char *tmpdir(void)
{
    const char *d = getenv("VS_TEST_TMPDIR");
    return d && *d ? d : "/tmp";
}

static int setup(void **state)
{
    static int counter;
    (void)state;
    snprintf(tmp_path, sizeof tmp_path, "%s/" TMP_PREFIX "_%ld_%d" TMP_SUFFIX,
             tmpdir(), (long)getpid(), counter++);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(tmp_path);
    return 0;
}

static void write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

#endif /* VS_TEST_FILE_UTIL_H */

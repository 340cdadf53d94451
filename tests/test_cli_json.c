/* Tests for the CLI's JSON text (tools/cli_common.c json_str): what
 * inspect --json and diff --json write for names is always valid JSON,
 * whatever bytes a stored name holds (issue 13.4). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* json_str(s) as text. */
static void expect_json(const char *s, const char *want)
{
    char buf[256];
    FILE *f = tmpfile();
    size_t n;
    assert_non_null(f);
    json_str(f, s);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_string_equal(buf, want);
}

static void test_cli_json__control_characters_escaped(void **state)
{
    (void)state;
    expect_json("a\"b\\c", "\"a\\\"b\\\\c\"");
    expect_json("l1\nl2", "\"l1\\nl2\"");
    expect_json("\x01\x1f\t\r", "\"\\u0001\\u001f\\u0009\\u000d\"");
}

static void test_cli_json__valid_utf8_kept(void **state)
{
    (void)state;
    expect_json("caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80",
                "\"caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80\"");
}

static void test_cli_json__invalid_bytes_become_replacement(void **state)
{
    (void)state;
    /* a stray byte, a truncated sequence, an overlong '/', a surrogate */
    expect_json("a\xff" "b", "\"a\\ufffdb\"");
    expect_json("\xe2\x82", "\"\\ufffd\\ufffd\"");
    expect_json("\xc0\xaf", "\"\\ufffd\\ufffd\"");
    expect_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_json__control_characters_escaped),
        cmocka_unit_test(test_cli_json__valid_utf8_kept),
        cmocka_unit_test(test_cli_json__invalid_bytes_become_replacement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

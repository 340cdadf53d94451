/* Test support shared by the cmocka tests: assertions on varstore's return
 * codes that print the failing call and vs_errmsg(). Include after
 * cmocka.h and varstore.h. */
#ifndef VS_TEST_VS_TEST_H
#define VS_TEST_VS_TEST_H

#include <stdio.h>

/* Asserts that `x` returns VS_OK; on failure prints the expression, the
 * code and this thread's vs_errmsg() before failing the test. */
#define OK(x)                                                                  \
    do {                                                                       \
        int ok_rc_ = (x);                                                      \
        if (ok_rc_ != VS_OK) {                                                 \
            print_error("%s returned %d (%s): %s\n", #x, ok_rc_,               \
                        vs_errstr(ok_rc_), vs_errmsg());                       \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* Asserts that `x` fails with `code` and exactly the message `msg`. */
#define FAILS(x, code, msg)                                                    \
    do {                                                                       \
        assert_int_equal((x), (code));                                         \
        assert_string_equal(vs_errmsg(), (msg));                               \
    } while (0)

#endif /* VS_TEST_VS_TEST_H */

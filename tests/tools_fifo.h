/* Test support for tools/ readers: a FIFO given as an input file must be
 * refused at once as "not a regular file", never waited on. Include after
 * cmocka.h, varstore.h and vst.h; tmp_path is the test's temporary file. */
#ifndef VS_TEST_TOOLS_FIFO_H
#define VS_TEST_TOOLS_FIFO_H

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Makes a FIFO beside tmp_path and checks that read(path) fails at once
 * with VS_EIO and vst_errmsg() "'<fifo>' is not a regular file". */
static void expect_fifo_refused(int (*read)(const char *path))
{
    char fifo[600], want[700];
    snprintf(fifo, sizeof fifo, "%s.fifo", tmp_path);
    (void)unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(20); /* a hang fails the test instead of stalling it */
    assert_int_equal(read(fifo), VS_EIO);
    alarm(0);
    snprintf(want, sizeof want, "'%s' is not a regular file", fifo);
    assert_string_equal(vst_errmsg(), want);
    assert_int_equal(unlink(fifo), 0);
}

#endif /* VS_TEST_TOOLS_FIFO_H */

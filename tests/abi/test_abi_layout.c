/* The layout of every public struct, as released (LP64: x86_64, aarch64).
 * A program built against an older header passes these structs to a newer
 * libvarstore.so, so a field may never move or change size. When this test
 * fails, the change breaks the ABI: add fields only at the end of a struct,
 * give the function that takes the grown struct a new symbol version in
 * cmake/varstore.map and keep the old entry point (which copies the
 * caller's shorter struct into a zeroed new one), then append the new
 * fields here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "varstore.h"

typedef struct {
    const char *what;
    size_t got, want;
} layout_row;

#define SIZE(type, n) {#type, sizeof(type), (n)}
#define FIELD(type, field, off) {#type "." #field, offsetof(type, field), (off)}

static const layout_row rows[] = {
    SIZE(vs_tensor, 80),
    FIELD(vs_tensor, dtype, 0),
    FIELD(vs_tensor, ndim, 4),
    FIELD(vs_tensor, shape, 8),
    FIELD(vs_tensor, data, 72),
    SIZE(vs_init, 64),
    FIELD(vs_init, kind, 0),
    FIELD(vs_init, a, 8),
    FIELD(vs_init, b, 16),
    FIELD(vs_init, c, 24),
    FIELD(vs_init, mode, 32),
    FIELD(vs_init, distribution, 36),
    FIELD(vs_init, seed, 40),
    FIELD(vs_init, values, 48),
    FIELD(vs_init, n_values, 56),
    SIZE(vs_scope_opts, 40),
    FIELD(vs_scope_opts, reuse, 0),
    FIELD(vs_scope_opts, initializer, 8),
    FIELD(vs_scope_opts, dtype, 16),
    FIELD(vs_scope_opts, default_name, 24),
    FIELD(vs_scope_opts, no_auxiliary_name_scope, 32),
    SIZE(vs_var_opts, 40),
    FIELD(vs_var_opts, shape, 0),
    FIELD(vs_var_opts, ndim, 8),
    FIELD(vs_var_opts, dtype, 12),
    FIELD(vs_var_opts, initializer, 16),
    FIELD(vs_var_opts, not_trainable, 24),
    FIELD(vs_var_opts, collections, 32),
    SIZE(vs_partitioner, 40),
    FIELD(vs_partitioner, kind, 0),
    FIELD(vs_partitioner, axis, 4),
    FIELD(vs_partitioner, num_shards, 8),
    FIELD(vs_partitioner, max_shard_bytes, 16),
    FIELD(vs_partitioner, max_shards, 24),
    FIELD(vs_partitioner, max_partitions, 28),
    FIELD(vs_partitioner, min_slice_size, 32),
    SIZE(vs_save_opts, 96),
    FIELD(vs_save_opts, chunk_bytes, 0),
    FIELD(vs_save_opts, codec, 8),
    FIELD(vs_save_opts, level, 12),
    FIELD(vs_save_opts, threads, 16),
    FIELD(vs_save_opts, vars, 24),
    FIELD(vs_save_opts, keys, 32),
    FIELD(vs_save_opts, n_vars, 40),
    FIELD(vs_save_opts, max_to_keep, 48),
    FIELD(vs_save_opts, keep_checkpoint_every_n_hours, 56),
    FIELD(vs_save_opts, busy_timeout_ms, 64),
    FIELD(vs_save_opts, progress, 72),
    FIELD(vs_save_opts, progress_ctx, 80),
    FIELD(vs_save_opts, readers_never_wait, 88),
    SIZE(vs_restore_opts, 56),
    FIELD(vs_restore_opts, vars, 0),
    FIELD(vs_restore_opts, keys, 8),
    FIELD(vs_restore_opts, n_vars, 16),
    FIELD(vs_restore_opts, prefix, 24),
    FIELD(vs_restore_opts, threads, 32),
    FIELD(vs_restore_opts, progress, 40),
    FIELD(vs_restore_opts, progress_ctx, 48),
    SIZE(vs_ckpt_info, 64),
    FIELD(vs_ckpt_info, step, 0),
    FIELD(vs_ckpt_info, created_at, 8),
    FIELD(vs_ckpt_info, n_tensors, 40),
    FIELD(vs_ckpt_info, raw_bytes, 48),
    FIELD(vs_ckpt_info, stored_bytes, 56),
    SIZE(vs_tensor_info, 176),
    FIELD(vs_tensor_info, name, 0),
    FIELD(vs_tensor_info, dtype, 8),
    FIELD(vs_tensor_info, ndim, 12),
    FIELD(vs_tensor_info, shape, 16),
    FIELD(vs_tensor_info, numel, 80),
    FIELD(vs_tensor_info, raw_bytes, 88),
    FIELD(vs_tensor_info, stored_bytes, 96),
    FIELD(vs_tensor_info, codec, 104),
    FIELD(vs_tensor_info, crc32, 120),
    FIELD(vs_tensor_info, has_stats, 124),
    FIELD(vs_tensor_info, min, 128),
    FIELD(vs_tensor_info, max, 136),
    FIELD(vs_tensor_info, mean, 144),
    FIELD(vs_tensor_info, std, 152),
    FIELD(vs_tensor_info, n_nan, 160),
    FIELD(vs_tensor_info, n_inf, 168),
    SIZE(vs_stream_sink, 40),
    FIELD(vs_stream_sink, begin, 0),
    FIELD(vs_stream_sink, write, 8),
    FIELD(vs_stream_sink, end, 16),
    FIELD(vs_stream_sink, ctx, 24),
    FIELD(vs_stream_sink, threads, 32),
    SIZE(vs_verify_opts, 24),
    FIELD(vs_verify_opts, threads, 0),
    FIELD(vs_verify_opts, progress, 8),
    FIELD(vs_verify_opts, progress_ctx, 16),
};

static void test_public_struct_layout_is_frozen(void **state)
{
    (void)state;
    if (sizeof(void *) != 8 || sizeof(long) != 8) {
        print_message("skipped: the frozen layout is LP64's\n");
        skip();
    }
    int bad = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (rows[i].got != rows[i].want) {
            print_error("%s: %zu, released as %zu\n", rows[i].what,
                        rows[i].got, rows[i].want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_public_struct_layout_is_frozen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

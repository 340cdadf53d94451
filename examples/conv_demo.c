/* The seed's main example in C: convolution() called five times under a
 * variable scope with AUTO_REUSE shares ONE `weights` variable
 * (xavier_initializer_conv2d); the conv runs on a [1,4,4,1] input drawn
 * from U[0, 255). Then the weights are checkpointed at two steps into one
 * SQLite file and restored bit-exactly into a fresh graph.
 *
 * Usage: conv_demo [checkpoint.db]   (default: conv_demo.db) */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <string.h>

#include "example_util.h"

/* One call of the seed's convolution(): defines (or reuses) the weights
 * of a layer. Like TF graph building, nothing is computed yet. */
static vs_var *convolution(vs_graph *g, int64_t in_channel,
                           int64_t out_channel)
{
    vs_scope_opts scope = {VS_AUTO_REUSE, NULL, 0, NULL, 0};
    const int64_t shape[] = {2, 2, in_channel, out_channel};
    vs_init xavier = vs_init_xavier_conv2d(1, VS_NO_SEED);
    vs_var_opts o = {shape, 4, VS_FLOAT32, &xavier, 0, NULL};
    vs_var *weights = NULL;

    ex_check(vs_variable_scope_push(g, "", &scope, NULL), "variable_scope");
    ex_check(vs_get_variable(g, "weights", &o, &weights), "get_variable");
    ex_check(vs_variable_scope_pop(g), "variable_scope exit");
    return weights;
}

/* Runs the layer: conv2d(input, weights, strides 1, SAME). */
static vs_tensor *run_layer(const vs_tensor *input, vs_var *weights)
{
    const int strides[4] = {1, 1, 1, 1};
    vs_tensor *filter = NULL, *out = NULL;
    ex_check(vs_var_value(weights, &filter), "weights value");
    ex_check(vs_conv2d(input, filter, strides, VS_PAD_SAME, &out), "conv2d");
    return out;
}

static void print_nhwc(const vs_tensor *t)
{
    int64_t h, w;
    const float *d = t->data;
    printf("[array([[");
    for (h = 0; h < t->shape[1]; h++) {
        printf("%s[", h ? "\n          " : "");
        for (w = 0; w < t->shape[2]; w++)
            printf("%s[%10.4f]", w ? " " : "", d[h * t->shape[2] + w]);
        printf("]");
    }
    printf("]], dtype=float32)]\n");
}

static void snapshot(vs_var *v, float out[4])
{
    vs_tensor *t = NULL;
    ex_check(vs_var_value(v, &t), "value");
    memcpy(out, t->data, 4 * sizeof(float));
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "conv_demo.db";
    const int64_t in_shape[] = {1, 4, 4, 1};
    vs_init uniform = vs_init_random_uniform(0.0, 255.0, 7);
    vs_graph *g = NULL, *g2 = NULL;
    vs_tensor *input = NULL, *out = NULL, *w2 = NULL;
    vs_var *weights = NULL, *first = NULL, *restored;
    float step1[4], step2[4], got[4];
    int64_t latest = 0;
    size_t n;
    int i;

    ex_check(vs_graph_open(&g), "vs_graph_open");
    for (i = 0; i < 5; i++) {
        weights = convolution(g, 1, 1);
        if (first == NULL)
            first = weights;
        if (weights != first) {
            fprintf(stderr, "convolution() %d made a new variable\n", i);
            return 1;
        }
    }
    n = vs_get_collection(g, VS_GLOBAL_VARIABLES, NULL, NULL, 0);
    printf("5 calls of convolution() -> %zu variable: %s, shape [2,2,1,1]\n",
           n, vs_var_name(weights));

    ex_check(vs_global_variables_initializer(g), "initializer");
    /* feed_dict={input_x: np.random.uniform(0, 255, [1,4,4,1])} */
    ex_check(vs_tensor_new(VS_FLOAT32, 4, in_shape, &input), "input");
    ex_check(vs_init_fill(&uniform, input, 87654321, 7), "input values");
    out = run_layer(input, weights);
    print_nhwc(out);
    vs_tensor_free(out);

    /* Checkpoints: step 1, a "training" change, step 2. */
    remove(path);
    snapshot(weights, step1);
    ex_check(vs_save(g, path, 1), "vs_save step 1");
    ex_check(vs_var_value(weights, &w2), "value");
    for (i = 0; i < 4; i++)
        ((float *)w2->data)[i] *= 0.5f;
    snapshot(weights, step2);
    ex_check(vs_save(g, path, 2), "vs_save step 2");

    /* A fresh graph (a new process would do the same): build, restore. */
    ex_check(vs_graph_open(&g2), "vs_graph_open");
    restored = convolution(g2, 1, 1);
    ex_check(vs_latest_checkpoint(path, &latest), "vs_latest_checkpoint");
    ex_check(vs_restore(g2, path, VS_LATEST), "vs_restore");
    snapshot(restored, got);
    printf("restored step %lld from %s: %s\n", (long long)latest, path,
           memcmp(got, step2, sizeof got) == 0 ? "bit-exact" : "MISMATCH");
    ex_check(vs_restore(g2, path, 1), "vs_restore step 1");
    snapshot(restored, got);
    printf("restored step 1: %s\n",
           memcmp(got, step1, sizeof got) == 0 ? "bit-exact" : "MISMATCH");
    out = run_layer(input, restored);
    vs_tensor_free(out);

    {
        char full[PATH_MAX];
        printf("\ncheckpoint file: %s\n",
               realpath(path, full) != NULL ? full : path);
    }
    printf("query it with the sqlite3 shell (more in README.md, \"Querying "
           "a checkpoint with sqlite3\"):\n");
    printf("  sqlite3 %s \"SELECT step, created_at FROM checkpoints;\"\n",
           path);
    printf("  sqlite3 %s \"SELECT step, name, shape, codec, raw_bytes, "
           "stored_bytes, min, max FROM tensors;\"\n",
           path);
    vs_tensor_free(input);
    vs_graph_close(g2);
    vs_graph_close(g);
    return memcmp(got, step1, sizeof got) == 0 ? 0 : 1;
}

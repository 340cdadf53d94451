/* Compiled against the INSTALLED library by tests/install/check.sh: builds
 * a variable, saves it to a checkpoint file and restores it, so that every
 * dependency (SQLite, zlib, pthreads, libm) is really linked. */
#include <stdio.h>
#include <string.h>
#include <varstore.h>

static int run(const char *path)
{
    vs_graph *g = NULL;
    vs_var *v = NULL;
    vs_tensor *val = NULL;
    const int64_t shape[] = {2};
    vs_var_opts o = {.shape = shape, .ndim = 1, .dtype = VS_FLOAT32};
    vs_init init = vs_init_constant(3.5);
    o.initializer = &init;
    int rc = vs_graph_open(&g);
    if (rc == VS_OK)
        rc = vs_get_variable(g, "layer/w", &o, &v);
    if (rc == VS_OK)
        rc = vs_global_variables_initializer(g);
    if (rc == VS_OK)
        rc = vs_save(g, path, 1);
    if (rc == VS_OK)
        rc = vs_var_value(v, &val);
    if (rc == VS_OK) {
        ((float *)val->data)[0] = 0;
        rc = vs_restore(g, path, VS_LATEST);
    }
    if (rc == VS_OK && ((const float *)val->data)[0] != 3.5f)
        rc = VS_ERROR;
    if (rc == VS_OK)
        printf("%s %s restored\n", vs_version(), vs_var_name(v));
    else
        fprintf(stderr, "consumer: %s\n", vs_errmsg());
    vs_graph_close(g);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    remove(argv[1]);
    if (run(argv[1]) != VS_OK)
        return 1;
    return strcmp(vs_version(), VS_VERSION_STRING) != 0;
}

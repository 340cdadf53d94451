/* Compiled against the INSTALLED library by tests/install/check.sh. */
#include <stdio.h>
#include <string.h>
#include <varstore.h>

int main(void)
{
    vs_graph *g = NULL;
    vs_var *v = NULL;
    const int64_t shape[] = {2};
    vs_var_opts o = {shape, 1, VS_FLOAT32, NULL, 0, NULL};
    if (vs_graph_open(&g) != VS_OK)
        return 1;
    if (vs_get_variable(g, "v", &o, &v) != VS_OK)
        return 1;
    printf("%s %s\n", vs_version(), vs_var_name(v));
    vs_graph_close(g);
    return strcmp(vs_version(), VS_VERSION_STRING) != 0;
}

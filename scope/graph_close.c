/* varstore: vs_graph_close, which frees what every layer of scope/ made:
 * partitioned variables, variables and their buffers, then the graph. */
#include "scope_int.h"

void vs_graph_close(vs_graph *g)
{
    size_t i;
    if (g == NULL)
        return;
    vs__partitioned_free_all(g);
    for (i = 0; i < g->n_vars; i++)
        vs__var_free(g->vars[i].v);
    vs__arena_free(&g->arena); /* after the last buffer's free */
    vs__graph_free(g);
}

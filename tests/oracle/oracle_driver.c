/* oracle_driver: runs the oracle's cases with varstore and prints each
 * result as one JSON line, for oracle.py to compare with TensorFlow.
 *
 *   oracle_driver --list              the cases and their parameters
 *   oracle_driver --run DIR [NAME..]  run all (or the named) cases; tensors
 *                                     go to DIR/NAME.bin (raw, native order)
 */
#include "oc.h"

#include <stdlib.h>
#include <string.h>

static int list_cases(void)
{
    size_t i;
    for (i = 0; i < oc_num_cases(); i++) {
        const oc_case *c = oc_case_at(i);
        fputs("{\"name\": ", stdout);
        oc_json_str(stdout, c->name);
        fputs(", ", stdout);
        c->spec_json(c, stdout);
        fputs("}\n", stdout);
    }
    return oc_num_cases() ? 0 : 1;
}

static int write_tensor(const char *dir, const char *name, const vs_tensor *t)
{
    char path[1024];
    size_t nb = vs_tensor_nbytes(t);
    FILE *f;
    int n = snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    f = fopen(path, "wb");
    if (!f)
        return -1;
    if (nb && fwrite(t->data, 1, nb, f) != nb) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0)
        return -1;
    fputs(", \"dtype\": ", stdout);
    oc_json_str(stdout, vs_dtype_name(t->dtype));
    fputs(", \"shape\": ", stdout);
    oc_json_shape(stdout, t->ndim, t->shape);
    fputs(", \"file\": ", stdout);
    oc_json_str(stdout, path);
    return 0;
}

static void print_lines(const char *text)
{
    const char *p = text ? text : "";
    int first = 1;
    fputs(", \"lines\": [", stdout);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = malloc(n + 1);
        if (!line)
            break;
        memcpy(line, p, n);
        line[n] = '\0';
        fputs(first ? "" : ", ", stdout);
        oc_json_str(stdout, line);
        free(line);
        first = 0;
        p += n + (nl != NULL);
    }
    fputc(']', stdout);
}

static int run_case(const char *dir, const oc_case *c)
{
    oc_result r;
    int bad = 0;
    memset(&r, 0, sizeof r);
    oc_run(c, &r);
    fputs("{\"name\": ", stdout);
    oc_json_str(stdout, c->name);
    if (r.tensor)
        bad = write_tensor(dir, c->name, r.tensor) != 0;
    else
        print_lines(r.text);
    fputs("}\n", stdout);
    fflush(stdout);
    bad |= r.oom;
    if (bad)
        fprintf(stderr, "oracle_driver: %s: could not write its result\n",
                c->name);
    oc_result_free(&r);
    return bad;
}

static int run_cases(const char *dir, char **names, int n)
{
    int i, bad = 0;
    size_t k;
    if (n == 0) {
        for (k = 0; k < oc_num_cases(); k++)
            bad |= run_case(dir, oc_case_at(k));
        return bad;
    }
    for (i = 0; i < n; i++) {
        const oc_case *c = oc_find(names[i]);
        if (!c) {
            fprintf(stderr, "oracle_driver: no case %s\n", names[i]);
            bad = 1;
            continue;
        }
        bad |= run_case(dir, c);
    }
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0)
        return list_cases();
    if (argc >= 3 && strcmp(argv[1], "--run") == 0)
        return run_cases(argv[2], argv + 3, argc - 3);
    fprintf(stderr, "usage: oracle_driver --list | --run DIR [NAME...]\n");
    return 2;
}

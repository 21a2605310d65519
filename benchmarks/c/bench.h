/* Shared by the C benchmark loops in this folder: a monotonic clock, a sort order for medians, and
 * forcing one variant of a compiled kernel. */
#ifndef FE_BENCH_H
#define FE_BENCH_H
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cpu.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* fe_cpu_init, then make `kernel` dispatch to `variant`; 0, or 2 with a message on stderr. */
static inline int force_variant(const char *kernel, const char *variant) {
    fe_cpu_init();
    int found = 0;
    for (int i = 0; i < fe_kernel_count(); i++) {
        fe_kernel *k = fe_kernel_at(i);
        if (strcmp(k->name, kernel)) continue;
        for (int j = 0; j < k->n_variants; j++)
            if (!strcmp(k->variants[j].name, variant)) found = fe_kernel_select(i, j) == 0 ? 1 : -1;
    }
    if (found == 1) return 0;
    fprintf(stderr, "variant %s of %s: %s\n", variant, kernel, found ? "not supported here" : "unknown");
    return 2;
}
#endif

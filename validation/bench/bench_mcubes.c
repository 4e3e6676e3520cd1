/* bench_mcubes.c — `make bench`: marching cubes on NeuS's mesh grid size.
 *
 *   mcubes 512^3 sphere / torus   extraction time of an SDF sampled on 512³ (the 512 MiB grid
 *                                 itself is filled before the clock starts); target ≤ 10 s on
 *                                 2 cores
 *   peak extra memory             resident-set peak during extraction minus the resident set
 *                                 before it (grid included there); target ≤ 2 GiB
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phive/backend.h"
#include "phive/errors.h"
#include "phive/log.h"
#include "phive/mcubes.h"
#include "phive/mesh.h"

enum { N = 512 };

static void report(const char *name, double value, const char *unit, const char *target)
{
    printf("%-34s %10.2f %-8s target: %s\n", name, value, unit, target);
}

/* A field of /proc/self/status in KiB (VmRSS, VmHWM); 0 when unavailable. */
static double proc_status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    size_t len = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, len) && line[len] == ':') kib = atof(line + len + 1);
    if (f) fclose(f);
    return kib;
}

/* Reset the peak resident set (VmHWM) to the current one (Linux clear_refs). */
static void reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) fputs("5", f), fclose(f);
}

static void fill(float *grid, int torus)
{
    const double h = 2.0 / (N - 1);
#pragma omp parallel for schedule(static)
    for (int k = 0; k < N; ++k)
        for (int j = 0; j < N; ++j)
            for (int i = 0; i < N; ++i) {
                double x = -1 + h * i, y = -1 + h * j, z = -1 + h * k, d;
                if (torus) {
                    double ring = sqrt(x * x + y * y) - 0.6;
                    d = sqrt(ring * ring + z * z) - 0.25;
                } else {
                    d = sqrt(x * x + y * y + z * z) - 0.8;
                }
                grid[(size_t)i + (size_t)N * ((size_t)j + (size_t)N * (size_t)k)] = (float)d;
            }
}

static int bench_shape(float *grid, const char *shape, int torus)
{
    fill(grid, torus);
    mcubes_options o;
    mcubes_options_init(&o);
    const double origin[3] = {-1, -1, -1}, spacing[3] = {2.0 / (N - 1), 2.0 / (N - 1), 2.0 / (N - 1)};
    mcubes_set_origin_spacing(&o, origin, spacing);
    reset_peak();
    double rss_before = proc_status_kib("VmRSS");
    mesh m;
    double start = wall_time();
    if (mcubes_extract(grid, N, N, N, &o, &m)) {
        fprintf(stderr, "bench_mcubes: %s\n", err_message());
        return -1;
    }
    double seconds = wall_time() - start;
    double extra_mib = (proc_status_kib("VmHWM") - rss_before) / 1024.0;
    char name[64];
    snprintf(name, sizeof name, "mcubes 512^3 %s", shape);
    report(name, seconds, "s", "<= 10 on 2 cores");
    snprintf(name, sizeof name, "mcubes 512^3 %s triangles", shape);
    report(name, (double)m.n_faces / 1e6, "M", "(size)");
    snprintf(name, sizeof name, "mcubes 512^3 %s extra memory", shape);
    report(name, extra_mib, "MiB", "<= 2048 (grid of 512 MiB not counted)");
    mesh_free(&m);
    return 0;
}

int main(void)
{
    backend b;
    backend_init(&b, "cpu", 0, 1, 0);
    printf("phive bench mcubes (%d threads)\n", b.threads);
    float *grid = malloc(sizeof(float) * (size_t)N * N * N);
    if (!grid) {
        fprintf(stderr, "bench_mcubes: no memory for the 512^3 grid\n");
        return 1;
    }
    int status = bench_shape(grid, "sphere", 0) || bench_shape(grid, "torus", 1);
    free(grid);
    backend_free(&b);
    return status ? 1 : 0;
}

/* report_plot.c — plot_<series>.svg: a metric series against training iterations, a line per job.
 *
 * A job's result.h5 holds a series `name` with its iterations in `name_iteration` (psnr_test,
 * psnr_render, overall_mm, …), or in those of the series it extends (psnr_test_masked, at
 * psnr_test_iteration); every such series any job has gets one SVG line chart with a line
 * per job that has it (labelled by its sweep scene and variant, or its id), linear axes from the
 * data's range with five ticks each.  Written atomically next to the summary tables.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/h5io.h"
#include "phive/log.h"
#include "phive/metrics.h"

#define MAX_PLOTS 32
#define SUFFIX "_iteration"

typedef struct {
    double *x, *y;
    size_t n;
} curve;

/* A plotted series: y against x, both in /metrics. */
typedef struct {
    char y[METRIC_NAME_MAX], x[METRIC_NAME_MAX + 16];
} plot_pair;

static int has_name(char (*names)[METRIC_NAME_MAX], int n, const char *name)
{
    for (int i = 0; i < n; ++i)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

/* The iterations of series y among the names: y_iteration, or else the _iteration series of a name
 * y extends (psnr_test_masked: psnr_test_iteration), into x; 0 when there is none. */
static int iterations_of(char (*names)[METRIC_NAME_MAX], int n, const char *y, char *x, size_t size)
{
    char stem[METRIC_NAME_MAX];
    snprintf(stem, sizeof stem, "%s", y);
    for (;;) {
        snprintf(x, size, "%s" SUFFIX, stem);
        if (has_name(names, n, x)) return 1;
        char *cut = strrchr(stem, '_');
        if (!cut) return 0;
        *cut = 0;
    }
}

/* The series of one file that have iterations: y with y_iteration, or else with the iterations of
 * the series y's name extends (psnr_test_masked with psnr_test_iteration); added to plots, unique. */
static void collect_pairs(const char *path, plot_pair *plots, int *n_plots)
{
    enum { MAX_NAMES = 256 };
    char names[MAX_NAMES][METRIC_NAME_MAX];
    int n = 0;
    hid_t file;
    if (h5_open_read(path, &file)) return;
    hid_t group = h5_exists(file, "metrics") ? H5Gopen2(file, "metrics", H5P_DEFAULT) : -1;
    H5G_info_t info;
    if (group >= 0 && H5Gget_info(group, &info) >= 0)
        for (hsize_t i = 0; i < info.nlinks && n < MAX_NAMES; ++i)
            n += H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, names[n], METRIC_NAME_MAX, H5P_DEFAULT) > 0;
    if (group >= 0) H5Gclose(group);
    h5_close(file);
    const size_t suffix = strlen(SUFFIX);
    for (int i = 0; i < n; ++i) {
        const size_t len = strlen(names[i]);
        if (len >= suffix && !strcmp(names[i] + len - suffix, SUFFIX)) continue;
        char x[METRIC_NAME_MAX + 16];
        if (!iterations_of(names, n, names[i], x, sizeof x)) continue;
        int known = 0;
        for (int p = 0; p < *n_plots; ++p) known |= !strcmp(plots[p].y, names[i]);
        if (known || *n_plots == MAX_PLOTS) continue;
        snprintf(plots[*n_plots].y, METRIC_NAME_MAX, "%s", names[i]);
        snprintf(plots[*n_plots].x, sizeof plots[*n_plots].x, "%s", x);
        ++*n_plots;
    }
}

/* Series y of the file against x; n = 0 when the file lacks either or they differ in length. */
static void read_curve(const char *path, const plot_pair *pair, curve *c)
{
    memset(c, 0, sizeof *c);
    hid_t file;
    if (h5_open_read(path, &file)) return;
    char xs[4200], ys[4200];
    snprintf(ys, sizeof ys, "metrics/%.*s", METRIC_NAME_MAX, pair->y);
    snprintf(xs, sizeof xs, "metrics/%.*s", METRIC_NAME_MAX + 16, pair->x);
    size_t nx = 0, ny = 0;
    if (h5_exists(file, xs) && h5_exists(file, ys) && !h5_dataset_count(file, xs, &nx) && !h5_dataset_count(file, ys, &ny) &&
        nx == ny && nx > 0 && (c->x = malloc(nx * sizeof *c->x)) && (c->y = malloc(nx * sizeof *c->y)) &&
        !h5_read_f64(file, xs, c->x, nx) && !h5_read_f64(file, ys, c->y, nx))
        c->n = nx;
    h5_close(file);
    if (!c->n) free(c->x), free(c->y), c->x = c->y = NULL;
}

static void escape(FILE *out, const char *text)
{
    for (; *text; ++text) {
        if (*text == '<') fputs("&lt;", out);
        else if (*text == '>') fputs("&gt;", out);
        else if (*text == '&') fputs("&amp;", out);
        else fputc(*text, out);
    }
}

static void write_svg(FILE *out, const char *name, const curve *curves, const char *const *labels, int n)
{
    static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    const double W = 720, H = 420, left = 70, right = 220, top = 30, bottom = 50;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int j = 0; j < n; ++j)
        for (size_t i = 0; i < curves[j].n; ++i) {
            if (!isfinite(curves[j].y[i])) continue;
            x0 = fmin(x0, curves[j].x[i]), x1 = fmax(x1, curves[j].x[i]);
            y0 = fmin(y0, curves[j].y[i]), y1 = fmax(y1, curves[j].y[i]);
        }
    if (!(x1 > x0)) x0 -= 1, x1 += 1;
    if (!(y1 > y0)) y0 -= 1, y1 += 1;
    const double pw = W - left - right, ph = H - top - bottom;
#define PX(v) (left + ((v) - x0) / (x1 - x0) * pw)
#define PY(v) (top + ph - ((v) - y0) / (y1 - y0) * ph)
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
                 "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(out, "<text x=\"%.0f\" y=\"18\" font-size=\"14\">", left);
    escape(out, name);
    fprintf(out, " against iterations</text>\n");
    fprintf(out, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", left, top,
            pw, ph);
    for (int t = 0; t <= 4; ++t) {
        const double xv = x0 + (x1 - x0) * t / 4, yv = y0 + (y1 - y0) * t / 4;
        fprintf(out, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%g</text>\n", PX(xv), top + ph + 18, xv);
        fprintf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n", left - 6, PY(yv) + 4, yv);
        fprintf(out, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, left + pw, PY(yv),
                PY(yv));
    }
    fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">iteration</text>\n", left + pw / 2, H - 10);
    for (int j = 0; j < n; ++j) {
        const char *colour = palette[j % 10];
        fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
        for (size_t i = 0; i < curves[j].n; ++i)
            if (isfinite(curves[j].y[i])) fprintf(out, "%.1f,%.1f ", PX(curves[j].x[i]), PY(curves[j].y[i]));
        fprintf(out, "\"/>\n");
        const double ly = top + 14 + 18 * j;
        fprintf(out, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                left + pw + 10, left + pw + 30, ly - 4, ly - 4, colour);
        fprintf(out, "<text x=\"%.0f\" y=\"%.0f\">", left + pw + 36, ly);
        escape(out, labels[j]);
        fprintf(out, "</text>\n");
    }
    fprintf(out, "</svg>\n");
#undef PX
#undef PY
}

int report_write_plots(const char *dir, const char *const *paths, const char *const *labels, int n)
{
    plot_pair plots[MAX_PLOTS];
    int n_plots = 0;
    for (int j = 0; j < n; ++j) collect_pairs(paths[j], plots, &n_plots);
    curve *curves = calloc((size_t)(n ? n : 1), sizeof *curves);
    const char **shown = calloc((size_t)(n ? n : 1), sizeof *shown);
    if (!curves || !shown) {
        free(curves), free(shown);
        return err_set("out of memory for the plots of %s", dir);
    }
    int status = 0, written = 0;
    for (int p = 0; p < n_plots && !status; ++p) {
        int m = 0;
        for (int j = 0; j < n; ++j) {
            read_curve(paths[j], &plots[p], &curves[m]);
            if (curves[m].n) shown[m++] = labels[j];
        }
        char path[4300];
        snprintf(path, sizeof path, "%s/plot_%.*s.svg", dir, METRIC_NAME_MAX, plots[p].y);
        file_writer w;
        if (m && !(status = file_writer_open(&w, path))) {
            write_svg(w.file, plots[p].y, curves, shown, m);
            status = file_writer_commit(&w);
            written++;
        }
        for (int j = 0; j < m; ++j) free(curves[j].x), free(curves[j].y);
    }
    free(curves), free(shown);
    if (!status && written) log_info("report: %d series against iterations -> %s/plot_<series>.svg", written, dir);
    return status;
}

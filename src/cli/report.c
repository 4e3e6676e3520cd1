/* report.c — summary.{csv,md,h5} from the job directories under an output directory.
 *
 * One row per directory holding a result.h5: job id, type, status, wall
 * time, every final metric (the union over jobs, sorted; blank where a job
 * has none) and the error.  Written atomically, so a report rebuilt while a
 * sweep runs never leaves a half-written summary behind.
 *
 * Jobs a sweep ran carry their place in it (sweep_index, sweep_scene,
 * sweep_variant); from those, one results table per final metric,
 * table_<metric>.{md,csv}: a row per scene (its last path component), a
 * column per variant and grid values, both in sweep order, the metric of the
 * complete job in each cell, and a last row "mean" over the scenes (blank
 * while a scene lacks that column's value).  A sweep without scenes has a
 * row per variant instead, so per-scene settings written as variants still
 * give a table with a mean over them.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "phive/errors.h"
#include "phive/fileio.h"
#include "phive/h5io.h"
#include "phive/log.h"
#include "phive/metrics.h"

typedef struct {
    char *id, *type, *status, *error;
    double seconds;
    metrics final;
    int64_t sweep_index; /* -1 for a job outside a sweep */
    char *scene, *variant, *finished;
    char *path; /* its result.h5 */
} report_row;

static herr_t collect_final(hid_t loc, const char *name, const H5A_info_t *info, void *user)
{
    (void)info;
    double value;
    if (h5_attr_read_f64(loc, ".", name, &value) == 0) metrics_set(user, name, value);
    return 0;
}

static int read_sweep_place(hid_t file, report_row *row)
{
    if (!h5_attr_exists(file, ".", "sweep_index")) return 0;
    return h5_attr_read_i64(file, ".", "sweep_index", &row->sweep_index) ||
           h5_attr_read_str(file, ".", "sweep_scene", &row->scene) ||
           h5_attr_read_str(file, ".", "sweep_variant", &row->variant) ||
           h5_attr_read_str(file, ".", "finished", &row->finished);
}

static int read_row(const char *path, report_row *row)
{
    hid_t file;
    memset(row, 0, sizeof *row);
    row->sweep_index = -1;
    if (h5_open_read(path, &file)) return -1;
    int status = h5_attr_read_str(file, ".", "job_id", &row->id) || h5_attr_read_str(file, ".", "job_type", &row->type) ||
                 h5_attr_read_str(file, ".", "status", &row->status) || h5_attr_read_str(file, ".", "error", &row->error) ||
                 h5_attr_read_f64(file, ".", "wall_seconds", &row->seconds) || read_sweep_place(file, row);
    if (!status && h5_exists(file, "final")) {
        hid_t group = H5Gopen2(file, "final", H5P_DEFAULT);
        hsize_t index = 0;
        H5Aiterate2(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_final, &row->final);
        H5Gclose(group);
    }
    h5_close(file);
    return status ? err_context("%s", path) : 0;
}

static void free_row(report_row *row)
{
    free(row->id);
    free(row->type);
    free(row->status);
    free(row->error);
    free(row->scene);
    free(row->variant);
    free(row->finished);
    free(row->path);
    metrics_free(&row->final);
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted union of the final-metric names over all rows. */
static int metric_columns(const report_row *rows, int n, char ***columns)
{
    int count = 0, capacity = 16;
    char **names = malloc((size_t)capacity * sizeof *names);
    for (int r = 0; names && r < n; ++r)
        for (int m = 0; m < rows[r].final.n; ++m) {
            const char *name = rows[r].final.series[m].name;
            int seen = 0;
            for (int c = 0; c < count && !seen; ++c) seen = !strcmp(names[c], name);
            if (seen) continue;
            if (count == capacity) {
                char **grown = realloc(names, (size_t)(capacity *= 2) * sizeof *names);
                if (!grown) break;
                names = grown;
            }
            names[count++] = (char *)name;
        }
    if (names) qsort(names, (size_t)count, sizeof *names, compare_names);
    *columns = names;
    return count;
}

static double final_value(const report_row *row, const char *name)
{
    const metric_series *m = metrics_find(&row->final, name);
    return m ? m->values[0] : NAN;
}

/* CSV fields are quoted and their quotes doubled; Markdown cells lose their pipes and newlines. */
static void write_field(FILE *out, const char *text, int markdown)
{
    if (!markdown) fputc('"', out);
    for (const char *c = text; *c; ++c) {
        if (markdown && (*c == '|' || *c == '\n')) fputc(' ', out);
        else if (!markdown && *c == '"') fputs("\"\"", out);
        else fputc(*c, out);
    }
    if (!markdown) fputc('"', out);
}

static void write_table(FILE *out, const report_row *rows, int n, char **columns, int n_columns, int markdown)
{
    const char *sep = markdown ? " | " : ",";
    fputs(markdown ? "| job | type | status | seconds" : "job,type,status,seconds", out);
    for (int c = 0; c < n_columns; ++c) fprintf(out, "%s%s", sep, columns[c]);
    fprintf(out, "%serror%s\n", sep, markdown ? " |" : "");
    if (markdown) {
        fputs("|---|---|---|---:", out);
        for (int c = 0; c < n_columns; ++c) fputs("|---:", out);
        fputs("|---|\n", out);
    }
    for (int r = 0; r < n; ++r) {
        if (markdown) fputs("| ", out);
        write_field(out, rows[r].id, markdown);
        fprintf(out, "%s%s%s%s%s%.2f", sep, rows[r].type, sep, rows[r].status, sep, rows[r].seconds);
        for (int c = 0; c < n_columns; ++c) {
            double v = final_value(&rows[r], columns[c]);
            fputs(sep, out);
            if (!isnan(v)) fprintf(out, "%.6g", v);
        }
        fputs(sep, out);
        write_field(out, rows[r].error, markdown);
        fputs(markdown ? " |\n" : "\n", out);
    }
}

static int write_text_file(const char *dir, const char *name, const report_row *rows, int n, char **columns,
                           int n_columns, int markdown)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    file_writer w;
    if (file_writer_open(&w, path)) return -1;
    write_table(w.file, rows, n, columns, n_columns, markdown);
    return file_writer_commit(&w);
}

static int write_h5(const char *dir, const report_row *rows, int n, char **columns, int n_columns)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.h5", dir);
    h5_writer w;
    if (h5w_create(&w, path)) return -1;
    int status = h5_attr_write_i64(w.file, ".", "jobs", n);
    double *column = malloc((size_t)(n ? n : 1) * sizeof *column);
    for (int r = 0; !status && r < n; ++r) {
        char group[256];
        snprintf(group, sizeof group, "jobs/%s", rows[r].id);
        status = h5_attr_write_str(w.file, group, "type", rows[r].type) ||
                 h5_attr_write_str(w.file, group, "status", rows[r].status) ||
                 h5_attr_write_str(w.file, group, "error", rows[r].error) ||
                 h5_attr_write_f64(w.file, group, "wall_seconds", rows[r].seconds);
        for (int m = 0; !status && m < rows[r].final.n; ++m)
            status = h5_attr_write_f64(w.file, group, rows[r].final.series[m].name, rows[r].final.series[m].values[0]);
    }
    /* one column per metric in job order (NaN where missing), for quick plots */
    for (int c = 0; !status && column && c < n_columns; ++c) {
        char name[128];
        size_t dims[1] = {(size_t)n};
        for (int r = 0; r < n; ++r) column[r] = final_value(&rows[r], columns[c]);
        snprintf(name, sizeof name, "columns/%s", columns[c]);
        status = h5_write_f64(w.file, name, column, 1, dims);
    }
    free(column);
    if (status) {
        h5w_abort(&w);
        return -1;
    }
    return h5w_commit(&w);
}

/* The table's row and column names, in sweep order, and the report row in each cell.  Rows are
 * scenes and columns variants (with their grid values); a sweep without scenes has its variants
 * as rows and a single column. */
typedef struct {
    int by_variant; /* the sweep has no scenes */
    const char **rows, **columns;
    int n_rows, n_columns;
    int *cell; /* report row at [row * n_columns + column]; -1 where no job is complete */
} pivot;

static const char *row_name(const pivot *p, const report_row *r) { return p->by_variant ? r->variant : r->scene; }
static const char *column_name(const pivot *p, const report_row *r) { return p->by_variant ? "" : r->variant; }

static int index_of(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; ++i)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

static void add_name(const char **names, int *n, const char *name)
{
    if (index_of(names, *n, name) < 0) names[(*n)++] = name;
}

static int compare_sweep_order(const void *a, const void *b)
{
    const report_row *x = *(const report_row *const *)a, *y = *(const report_row *const *)b;
    return x->sweep_index != y->sweep_index ? (x->sweep_index < y->sweep_index ? -1 : 1) : strcmp(x->id, y->id);
}

/* Two complete jobs in one cell (say, results of an earlier version of the sweep): the later one counts. */
static void fill_cell(pivot *p, const report_row *rows, int r)
{
    int i = index_of(p->rows, p->n_rows, row_name(p, &rows[r]));
    int *cell = &p->cell[i * p->n_columns + index_of(p->columns, p->n_columns, column_name(p, &rows[r]))];
    if (*cell >= 0) {
        const report_row *kept = strcmp(rows[r].finished, rows[*cell].finished) > 0 ? &rows[r] : &rows[*cell];
        log_warn("report: %s and %s are both scene '%s', variant '%s'; the tables use %s, which finished later",
                 rows[*cell].id, rows[r].id, rows[r].scene, rows[r].variant, kept->id);
        if (kept != &rows[r]) return;
    }
    *cell = r;
}

static void pivot_free(pivot *p)
{
    free(p->rows);
    free(p->columns);
    free(p->cell);
}

/* The sweep jobs (sorted) name the rows and columns; complete ones fill the cells. */
static int pivot_fill(pivot *p, const report_row *rows, const report_row **sorted, int m)
{
    p->by_variant = 1;
    for (int i = 0; i < m; ++i) p->by_variant &= !sorted[i]->scene[0];
    for (int i = 0; i < m; ++i) {
        add_name(p->rows, &p->n_rows, row_name(p, sorted[i]));
        add_name(p->columns, &p->n_columns, column_name(p, sorted[i]));
    }
    p->cell = malloc((size_t)(m ? p->n_rows * p->n_columns : 1) * sizeof *p->cell);
    if (!p->cell) return err_set("out of memory");
    for (int i = 0; i < p->n_rows * p->n_columns; ++i) p->cell[i] = -1;
    for (int i = 0; i < m; ++i)
        if (!strcmp(sorted[i]->status, "complete")) fill_cell(p, rows, (int)(sorted[i] - rows));
    return 0;
}

/* An empty pivot (no rows) when no job came from a sweep. */
static int pivot_build(const report_row *rows, int n, pivot *p)
{
    memset(p, 0, sizeof *p);
    const report_row **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    p->rows = malloc((size_t)(n ? n : 1) * sizeof *p->rows);
    p->columns = malloc((size_t)(n ? n : 1) * sizeof *p->columns);
    int m = 0, status = sorted && p->rows && p->columns ? 0 : err_set("out of memory");
    for (int r = 0; !status && r < n; ++r)
        if (rows[r].sweep_index >= 0) sorted[m++] = &rows[r];
    if (!status) {
        qsort(sorted, (size_t)m, sizeof *sorted, compare_sweep_order);
        status = pivot_fill(p, rows, sorted, m);
    }
    free(sorted);
    if (status) pivot_free(p);
    return status;
}

static double cell_value(const pivot *p, const report_row *rows, int i, int c, const char *metric)
{
    int r = p->cell[i * p->n_columns + c];
    return r < 0 ? NAN : final_value(&rows[r], metric);
}

/* NaN unless every row has a value. */
static double column_mean(const pivot *p, const report_row *rows, int c, const char *metric)
{
    double sum = 0;
    for (int i = 0; i < p->n_rows; ++i) sum += cell_value(p, rows, i, c, metric);
    return sum / p->n_rows;
}

static int pivot_has_values(const pivot *p, const report_row *rows, const char *metric)
{
    for (int i = 0; i < p->n_rows; ++i)
        for (int c = 0; c < p->n_columns; ++c)
            if (!isnan(cell_value(p, rows, i, c, metric))) return 1;
    return 0;
}

/* A path-valued scene (data/synth/s1) by its last component; "-" for a job of a sweep without
 * scenes next to jobs with scenes. */
static void short_scene(const char *scene, char *out, size_t size)
{
    size_t end = strlen(scene), start;
    while (end > 1 && scene[end - 1] == '/') --end;
    for (start = end; start > 0 && scene[start - 1] != '/'; --start) {}
    snprintf(out, size, "%.*s", (int)(end - start), scene + start);
    if (!out[0]) snprintf(out, size, "-");
}

static void write_pivot(FILE *out, const pivot *p, const report_row *rows, const char *metric, int markdown)
{
    const char *sep = markdown ? " | " : ",", *corner = p->by_variant ? "variant" : "scene";
    fprintf(out, "%s%s", markdown ? "| " : "", corner);
    for (int c = 0; c < p->n_columns; ++c) {
        fputs(sep, out);
        write_field(out, p->columns[c][0] ? p->columns[c] : metric, markdown); /* no variants or grid: one column */
    }
    fputs(markdown ? " |\n" : "\n", out);
    if (markdown) {
        fputs("|---", out);
        for (int c = 0; c < p->n_columns; ++c) fputs("|---:", out);
        fputs("|\n", out);
    }
    for (int i = 0; i <= p->n_rows; ++i) { /* the last row is the mean */
        char name[256] = "mean";
        if (i < p->n_rows && p->by_variant) snprintf(name, sizeof name, "%s", p->rows[i]);
        else if (i < p->n_rows) short_scene(p->rows[i], name, sizeof name);
        if (markdown) fputs("| ", out);
        write_field(out, name, markdown);
        for (int c = 0; c < p->n_columns; ++c) {
            double value = i < p->n_rows ? cell_value(p, rows, i, c, metric) : column_mean(p, rows, c, metric);
            fputs(sep, out);
            if (!isnan(value)) fprintf(out, "%.6g", value);
        }
        fputs(markdown ? " |\n" : "\n", out);
    }
}

static int write_pivot_file(const char *dir, const pivot *p, const report_row *rows, const char *metric, int markdown)
{
    char name[METRIC_NAME_MAX], path[4200];
    snprintf(name, sizeof name, "%s", metric);
    for (char *c = name; *c; ++c)
        if (*c == '/') *c = '_'; /* metric names come from result files: keep the table inside dir */
    snprintf(path, sizeof path, "%s/table_%s.%s", dir, name, markdown ? "md" : "csv");
    file_writer w;
    if (file_writer_open(&w, path)) return -1;
    write_pivot(w.file, p, rows, metric, markdown);
    return file_writer_commit(&w);
}

/* table_<metric>.{md,csv} for every final metric the sweep jobs have. */
static int write_pivots(const char *dir, const report_row *rows, int n, char **columns, int n_columns)
{
    pivot p;
    if (pivot_build(rows, n, &p)) return -1;
    int status = 0, written = 0;
    for (int c = 0; !status && c < n_columns; ++c) {
        if (!pivot_has_values(&p, rows, columns[c])) continue;
        status = write_pivot_file(dir, &p, rows, columns[c], 1) || write_pivot_file(dir, &p, rows, columns[c], 0);
        written++;
    }
    if (!status && written)
        log_info("report: %d %ss x %d columns -> %s/table_<metric>.{md,csv} for %d metrics", p.n_rows,
                 p.by_variant ? "variant" : "scene", p.n_columns, dir, written);
    pivot_free(&p);
    return status ? -1 : 0;
}

/* plot_<series>.svg, each job's line labelled "scene variant" when a sweep ran it, else by its id. */
static int write_plots(const char *dir, const report_row *rows, int n)
{
    const char **paths = calloc((size_t)(n ? n : 1), sizeof *paths);
    char **labels = calloc((size_t)(n ? n : 1), sizeof *labels);
    int status = paths && labels ? 0 : err_set("out of memory");
    for (int r = 0; r < n && !status; ++r) {
        char scene[256], label[600];
        paths[r] = rows[r].path;
        short_scene(rows[r].scene ? rows[r].scene : "", scene, sizeof scene);
        if (rows[r].sweep_index >= 0) snprintf(label, sizeof label, "%s %s", scene, rows[r].variant);
        else snprintf(label, sizeof label, "%s", rows[r].id);
        if (!(labels[r] = strdup(label))) status = err_set("out of memory");
    }
    if (!status) status = report_write_plots(dir, paths, (const char *const *)labels, n);
    for (int r = 0; labels && r < n; ++r) free(labels[r]);
    free(paths), free(labels);
    return status;
}

static int compare_rows(const void *a, const void *b)
{
    return strcmp(((const report_row *)a)->id, ((const report_row *)b)->id);
}

int report_write(const char *out_dir)
{
    DIR *dir = opendir(out_dir);
    if (!dir) return err_set("%s: cannot open the output directory", out_dir);
    report_row *rows = NULL;
    int n = 0, status = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        char path[4200];
        if (entry->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s/result.h5", out_dir, entry->d_name);
        if (access(path, F_OK)) continue;
        report_row *grown = realloc(rows, (size_t)(n + 1) * sizeof *rows);
        if (!grown) { status = err_set("out of memory"); break; }
        rows = grown;
        if (read_row(path, &rows[n])) {
            log_warn("report: skipping %s", err_message());
            free_row(&rows[n]);
            continue;
        }
        if (!(rows[n].path = strdup(path))) {
            free_row(&rows[n]);
            status = err_set("out of memory");
            break;
        }
        n++;
    }
    closedir(dir);
    qsort(rows, (size_t)n, sizeof *rows, compare_rows);
    char **columns = NULL;
    int n_columns = metric_columns(rows, n, &columns);
    if (!status)
        status = write_text_file(out_dir, "summary.csv", rows, n, columns, n_columns, 0) ||
                 write_text_file(out_dir, "summary.md", rows, n, columns, n_columns, 1) ||
                 write_h5(out_dir, rows, n, columns, n_columns);
    int complete = 0;
    for (int r = 0; r < n; ++r) complete += !strcmp(rows[r].status, "complete");
    if (!status) log_info("report: %d jobs (%d complete, %d not) -> %s/summary.{csv,md,h5}", n, complete, n - complete, out_dir);
    if (!status) status = write_pivots(out_dir, rows, n, columns, n_columns);
    if (!status) status = write_plots(out_dir, rows, n);
    free(columns);
    for (int r = 0; r < n; ++r) free_row(&rows[r]);
    free(rows);
    return status ? -1 : 0;
}

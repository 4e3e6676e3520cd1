/* report.c — summary.{csv,md,h5} from the job directories under an output directory.
 *
 * One row per directory holding a result.h5: job id, type, status, wall
 * time, every final metric (the union over jobs, sorted; blank where a job
 * has none) and the error.  Written atomically, so a report rebuilt while a
 * sweep runs never leaves a half-written summary behind.
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
} report_row;

static herr_t collect_final(hid_t loc, const char *name, const H5A_info_t *info, void *user)
{
    (void)info;
    double value;
    if (h5_attr_read_f64(loc, ".", name, &value) == 0) metrics_set(user, name, value);
    return 0;
}

static int read_row(const char *path, report_row *row)
{
    hid_t file;
    memset(row, 0, sizeof *row);
    if (h5_open_read(path, &file)) return -1;
    int status = h5_attr_read_str(file, ".", "job_id", &row->id) || h5_attr_read_str(file, ".", "job_type", &row->type) ||
                 h5_attr_read_str(file, ".", "status", &row->status) || h5_attr_read_str(file, ".", "error", &row->error) ||
                 h5_attr_read_f64(file, ".", "wall_seconds", &row->seconds);
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
    free(columns);
    for (int r = 0; r < n; ++r) free_row(&rows[r]);
    free(rows);
    return status ? -1 : 0;
}

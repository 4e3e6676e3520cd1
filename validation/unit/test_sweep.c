/* test_sweep.c — unit tests of sweep expansion (src/cli/sweep.c) and the
 * report's per-metric tables (src/cli/report.c).
 *
 * Sweep files start from a minimal sdf base config in a scratch directory;
 * the tests look at the expanded jobs' order, labels, effective configs and
 * recorded place in the sweep.  The report tests write small result.h5 files
 * by hand and compare the tables byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../src/cli/cli.h"
#include "phive/errors.h"
#include "phive/h5io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef tu_scratch fixture;

static int setup(void **state)
{
    if (tu_scratch_setup(state, "sweep")) return -1;
    char path[512];
    tu_scratch_path(*state, "base.ini", path, sizeof path);
    tu_write_text(path, "[job]\ntype = sdf\n[train]\niterations = 10\n");
    return 0;
}

static int teardown(void **state) { return tu_scratch_teardown(state); }

/* Write the sweep file `name` and expand it; returns sweep_load's status. */
static int load(const fixture *fx, const char *name, const char *text, sweep *s)
{
    char path[512];
    tu_scratch_path(fx, name, path, sizeof path);
    tu_write_text(path, text);
    return sweep_load(s, path);
}

static void load_ok(const fixture *fx, const char *text, sweep *s)
{
    if (load(fx, "ok.sweep", text, s)) fail_msg("expanding the sweep: %s", err_message());
}

/* The job's id without its "-<hash8>". */
static void assert_label(const job_spec *job, const char *label)
{
    size_t n = strlen(job->id);
    assert_true(n > 9);
    if (n - 9 != strlen(label) || strncmp(job->id, label, n - 9))
        fail_msg("job id %s, expected %s-<hash>", job->id, label);
}

static void assert_value(const job_spec *job, const char *key, const char *value)
{
    const char *got = config_lookup(job->cfg, key);
    if (!got || strcmp(got, value)) fail_msg("%s: %s = %s, expected %s", job->id, key, got ? got : "(unset)", value);
}

static const char ablation[] = "[sweep]\n"
                               "name = abl\n"
                               "base = base.ini\n"
                               "scene_key = sdf.shape\n"
                               "scenes = sphere torus\n"
                               "[set]\n"
                               "model.width = 32\n"
                               "[variants]\n"
                               "full =\n"
                               "narrow = model.width=16   ; after [set]\n"
                               "deep = model.hidden_layers=4 train.lr=0.002\n"
                               "[grid]\n"
                               "train.batch = 256 512\n";

/* Scene-major, then variants in file order, then the grid; each variant's overrides win over [set]. */
static void test_variants_order_and_overrides(void **state)
{
    sweep s;
    load_ok(*state, ablation, &s);
    assert_int_equal(s.n_jobs, 12);
    static const char *const scenes[] = {"sphere", "torus"}, *const variants[] = {"full", "narrow", "deep"};
    static const char *const widths[] = {"32", "16", "32"}, *const layers[] = {"3", "3", "4"};
    static const char *const lrs[] = {"1e-3", "1e-3", "0.002"}, *const batches[] = {"256", "512"};
    for (int j = 0; j < s.n_jobs; ++j) {
        const job_spec *job = &s.jobs[j];
        int scene = j / 6, variant = j / 2 % 3, batch = j % 2;
        char label[128], place[64];
        snprintf(label, sizeof label, "abl-%s-%s-batch=%s", scenes[scene], variants[variant], batches[batch]);
        assert_label(job, label);
        assert_value(job, "sdf.shape", scenes[scene]);
        assert_value(job, "model.width", widths[variant]);
        assert_value(job, "model.hidden_layers", layers[variant]);
        assert_value(job, "train.lr", lrs[variant]);
        assert_value(job, "train.batch", batches[batch]);
        assert_int_equal(job->sweep_index, j);
        assert_string_equal(job->scene, scenes[scene]);
        snprintf(place, sizeof place, "%s batch=%s", variants[variant], batches[batch]);
        assert_string_equal(job->variant, place);
    }
    sweep_free(&s);
}

/* Without [variants], labels are <name>-<scene>-<grid values> as always. */
static void test_no_variants_labels(void **state)
{
    sweep s;
    load_ok(*state,
            "[sweep]\nname = g\nbase = base.ini\nscene_key = sdf.shape\nscenes = box\n"
            "[grid]\nmodel.width = 8 16\nmodel.hidden_layers = 1 2\n",
            &s);
    assert_int_equal(s.n_jobs, 4);
    assert_label(&s.jobs[0], "g-box-width=8_hidden_layers=1");
    assert_label(&s.jobs[3], "g-box-width=16_hidden_layers=2");
    assert_string_equal(s.jobs[3].scene, "box");
    assert_string_equal(s.jobs[3].variant, "width=16 hidden_layers=2");
    sweep_free(&s);
    load_ok(*state, "[sweep]\nname = v\nbase = base.ini\n[variants]\na =\nb = model.width=8\n", &s);
    assert_int_equal(s.n_jobs, 2);
    assert_label(&s.jobs[1], "v-b");
    assert_string_equal(s.jobs[1].scene, "");
    assert_string_equal(s.jobs[1].variant, "b");
    sweep_free(&s);
}

static void assert_load_fails(const fixture *fx, const char *variants, const char *what1, const char *what2)
{
    char text[1024];
    snprintf(text, sizeof text, "[sweep]\nbase = base.ini\nscene_key = sdf.shape\nscenes = sphere\n[variants]\n%s", variants);
    sweep s;
    err_clear();
    assert_int_equal(load(fx, "bad.sweep", text, &s), -1);
    assert_error_mentions(what1, what2);
    assert_error_contains("bad.sweep");
    sweep_free(&s);
}

static void test_variant_errors(void **state)
{
    assert_load_fails(*state, "a = model.width=8 train.lr\n", "variant 'a'", "'train.lr' is not of the form section.key=value");
    assert_load_fails(*state, "a = model.width=8\nb =\na = train.lr=0.1\n", "variant 'a'", "given twice");
    assert_load_fails(*state, "a = model.widht=8\n", "unknown key 'model.widht' (from ", "did you mean 'model.width'");
    assert_load_fails(*state, "a = model.widht=8\n", "[variants] a", "job 'sweep-sphere-a'");
    assert_load_fails(*state, "a = model.width=ten\n", "[variants] a", "not an integer");
    assert_load_fails(*state, "a = sdf.shape=box\n", "variant 'a' sets 'sdf.shape'", "sweep.scene_key");
    assert_load_fails(*state, "a = model.width=8\n[grid]\nmodel.width = 8 16\n", "variant 'a' sets 'model.width'", "[grid]");
    assert_load_fails(*state, "= model.width=8\n", "[variants] line", "needs a name");
    assert_load_fails(*state, "a =\nb = model.width=64\n", "jobs 0 and 1", "same effective config");
}

/* ---- report tables ------------------------------------------------------ */

typedef struct {
    const char *id, *status, *scene, *variant, *finished;
    long index;
    double mae;
} fake_job;

static void write_result(const fixture *fx, const fake_job *job)
{
    char dir[512], path[600];
    tu_scratch_path(fx, job->id, dir, sizeof dir);
    assert_int_equal(make_writable_dir(dir), 0);
    snprintf(path, sizeof path, "%s/result.h5", dir);
    h5_writer w;
    assert_int_equal(h5w_create(&w, path), 0);
    int status = h5_attr_write_str(w.file, ".", "job_id", job->id) || h5_attr_write_str(w.file, ".", "job_type", "sdf") ||
                 h5_attr_write_str(w.file, ".", "status", job->status) || h5_attr_write_str(w.file, ".", "error", "") ||
                 h5_attr_write_f64(w.file, ".", "wall_seconds", 1) ||
                 h5_attr_write_str(w.file, ".", "finished", job->finished ? job->finished : "2024-01-01T00:00:00Z") ||
                 h5_attr_write_f64(w.file, "final", "eval_mae", job->mae);
    if (job->scene)
        status = status || h5_attr_write_i64(w.file, ".", "sweep_index", job->index) ||
                 h5_attr_write_str(w.file, ".", "sweep_scene", job->scene) ||
                 h5_attr_write_str(w.file, ".", "sweep_variant", job->variant);
    assert_int_equal(status, 0);
    assert_int_equal(h5w_commit(&w), 0);
}

static void assert_file(const fixture *fx, const char *name, const char *expected)
{
    char path[512];
    size_t size;
    tu_scratch_path(fx, name, path, sizeof path);
    char *text = tu_read_file(path, &size);
    assert_string_equal(text, expected);
    free(text);
}

/* Rows are scenes by their last path component, columns variants in sweep order; a failed job's cell
 * and its column's mean stay blank; of two complete jobs in one cell the later one counts. */
static void test_report_tables(void **state)
{
    const fake_job jobs[] = {
        {"a-s1-full-1", "complete", "data/synth/s1", "full", "2023-01-01T00:00:00Z", 0, 7.0},
        {"a-s1-full-2", "complete", "data/synth/s1", "full", NULL, 0, 1.0},
        {"a-s1-no_f", "complete", "data/synth/s1", "no_f", NULL, 1, 2.0},
        {"a-s2-full", "complete", "data/synth/s2/", "full", NULL, 2, 3.0},
        {"a-s2-no_f", "failed", "data/synth/s2/", "no_f", NULL, 3, 9.0},
        {"single", "complete", NULL, NULL, NULL, 0, 5.0},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; ++i) write_result(*state, &jobs[i]);
    assert_int_equal(report_write(((fixture *)*state)->dir), 0);
    assert_file(*state, "table_eval_mae.md",
                "| scene | full | no_f |\n|---|---:|---:|\n| s1 | 1 | 2 |\n| s2 | 3 |  |\n| mean | 2 |  |\n");
    assert_file(*state, "table_eval_mae.csv", "scene,\"full\",\"no_f\"\n\"s1\",1,2\n\"s2\",3,\n\"mean\",2,\n");
}

/* Without scenes the variants are the rows, with one column named after the metric. */
static void test_report_table_without_scenes(void **state)
{
    const fake_job jobs[] = {
        {"r-s1", "complete", "", "s1", NULL, 0, 1.0},
        {"r-s2", "complete", "", "s2", NULL, 1, 4.0},
    };
    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; ++i) write_result(*state, &jobs[i]);
    assert_int_equal(report_write(((fixture *)*state)->dir), 0);
    assert_file(*state, "table_eval_mae.md",
                "| variant | eval_mae |\n|---|---:|\n| s1 | 1 |\n| s2 | 4 |\n| mean | 2.5 |\n");
}

/* Jobs run outside a sweep give no tables. */
static void test_report_without_sweep_jobs(void **state)
{
    const fake_job job = {"single", "complete", NULL, NULL, NULL, 0, 5.0};
    write_result(*state, &job);
    assert_int_equal(report_write(((fixture *)*state)->dir), 0);
    char path[512];
    tu_scratch_path(*state, "table_eval_mae.md", path, sizeof path);
    assert_int_not_equal(access(path, F_OK), 0);
    tu_scratch_path(*state, "summary.csv", path, sizeof path);
    assert_int_equal(access(path, F_OK), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    h5io_init();
    const struct CMUnitTest tests[] = {
        T(test_variants_order_and_overrides),
        T(test_no_variants_labels),
        T(test_variant_errors),
        T(test_report_tables),
        T(test_report_table_without_scenes),
        T(test_report_without_sweep_jobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

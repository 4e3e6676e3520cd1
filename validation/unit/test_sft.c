/* test_sft.c — the ϕ-SfT problem's data path on the real sequence R1 beside the repository
 * (downscaled 8×, 3 frames): the region-of-interest crop leaves the losses and gradients of the
 * full frame unchanged while the surface stays inside it, and counts the frames where it does not; a template without UVs is flattened onto its plane and coloured by
 * projecting frame 0, which then renders back to frame 0 (the UV convention of raster.h);
 * sequence errors name the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "petsc_fixture.h"
#include "sft_fixture.h"
#include "test_util.h"

#define R1 "../shared/data/phisft_r1"

/* The tests need the R1 sequence beside the repository; without it they are skipped. */
static int have_r1(void) { return access(R1 "/camera.json", R_OK) == 0; }

static const char *const base_ini = "[data]\ndownscale = 8\nframes = 3\n";

static void open_problem(sft_fixture *fx, const char *root, const char *extra)
{
    char ini[2048];
    snprintf(ini, sizeof ini, "%s%s\nroot = %s\n%s", base_ini, "", root, extra ? extra : "");
    if (sft_fixture_open(fx, ini, 2)) fail_msg("%s", err_message());
}

/* Loss and ∂L/∂Φ with and without the crop: the same up to float rounding. */
static void test_crop_keeps_the_full_frame_loss(void **state)
{
    (void)state;
    if (!have_r1()) skip();
    sft_fixture a, b;
    open_problem(&a, R1, "crop = true\ncrop_margin = 160\n"); /* 20 px: room for the motion below */
    open_problem(&b, R1, "crop = false\n");
    assert_true(a.problem.seq.width < b.problem.seq.width && a.problem.seq.height <= b.problem.seq.height);
    assert_int_equal(a.problem.seq.full_width, b.problem.seq.width);
    /* move the cloth: a wind and correctives */
    for (sft_fixture *fx = &a; fx; fx = fx == &a ? &b : NULL) {
        sft_problem *s = &fx->problem;
        params_values(&s->params, s->tensor[T_WIND])[2] = -0.5f;
        const param_tensor *c = &s->params.tensors[s->tensor[T_CORRECTIVES]];
        for (size_t i = 0; i < c->count; ++i) s->params.values[c->offset + i] = (real)(0.03 * sin(0.37 * (double)i));
    }
    sft_step ra, rb;
    assert_int_equal(sft_problem_evaluate(&a.problem, &a.ctx, 3, 1, &ra), 0);
    assert_int_equal(sft_problem_evaluate(&b.problem, &b.ctx, 3, 1, &rb), 0);
    printf("  RGB %.8f / %.8f, silhouette %.8f / %.8f\n", ra.rgb, rb.rgb, ra.sil, rb.sil);
    printf("  loss %.7f (crop %dx%d) vs %.7f (full %dx%d)\n", ra.loss, a.problem.seq.width, a.problem.seq.height,
           rb.loss, b.problem.seq.width, b.problem.seq.height);
    assert_true(fabs(ra.loss - rb.loss) < 1e-6 * rb.loss);
    assert_int_equal(a.problem.edge_frames, 0);
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.problem.params.count; ++i) {
        diff = fmax(diff, fabs((double)a.problem.params.grads[i] - b.problem.params.grads[i]));
        norm = fmax(norm, fabs((double)b.problem.params.grads[i]));
    }
    printf("  gradient: max difference / max entry %.2e\n", diff / norm);
    assert_true(norm > 0 && diff < 1e-3 * norm);
    sft_fixture_close(&a);
    sft_fixture_close(&b);
}

/* R1's template without its UVs: flattened material space, colours projected from frame 0. */
static void test_projected_template_renders_frame0(void **state)
{
    (void)state;
    if (!have_r1()) skip();
    char dir[256], path[512], templates[512], cwd[4096];
    assert_int_equal(tu_make_scratch(dir, sizeof dir, "sft"), 0);
    assert_non_null(getcwd(cwd, sizeof cwd));
    static const char *const links[] = {"rgbs", "masks", "camera.json"};
    for (int i = 0; i < 3; ++i) {
        char target[4400];
        snprintf(target, sizeof target, "%s/%s/%s", cwd, R1, links[i]);
        tu_path_in(dir, links[i], path, sizeof path);
        assert_int_equal(symlink(target, path), 0);
    }
    tu_path_in(dir, "templates", templates, sizeof templates);
    assert_int_equal(mkdir(templates, 0777), 0);
    mesh m;
    mesh_init(&m);
    assert_int_equal(mesh_read(R1 "/templates/template.obj", &m), 0);
    free(m.uvs), free(m.face_uvs);
    m.uvs = NULL, m.face_uvs = NULL, m.n_uvs = 0;
    tu_path_in(templates, "template.obj", path, sizeof path);
    assert_int_equal(mesh_write(path, &m), 0);
    mesh_free(&m);

    sft_fixture fx;
    open_problem(&fx, dir, NULL);
    sft_problem *s = &fx.problem;
    assert_true(s->tpl.flattened && s->tpl.projected_texture);
    /* material area = the template's area (a near-flat cloth: edge lengths barely change) */
    double area = 0;
    for (int f = 0; f < s->tpl.cloth.n_faces; ++f) area += s->tpl.cloth.face_area[f];
    printf("  flattened material area %.4f m²\n", area);
    sft_step r;
    assert_int_equal(sft_problem_evaluate(s, &fx.ctx, 2, 0, &r), 0);
    printf("  frame 0 RGB loss %.5f, silhouette %.5f (frame 1: %.5f)\n", s->frame_rgb[0], s->frame_sil[0], s->frame_rgb[1]);
    assert_true(s->frame_rgb[0] < 0.004 && s->frame_sil[0] < 0.01);
    sft_fixture_close(&fx);
    tu_remove_tree(dir);
}

static void test_sequence_errors_name_the_file(void **state)
{
    (void)state;
    if (!have_r1()) skip();
    sft_sequence seq;
    sft_load_options o = {.downscale = 7, .crop = 1, .crop_margin = 4};
    assert_int_equal(sft_sequence_load(&seq, R1, &o), -1);
    assert_non_null(strstr(err_message(), "camera.json"));
    o.downscale = 8, o.first_frame = 49, o.frames = 2;
    assert_int_equal(sft_sequence_load(&seq, R1, &o), -1);
    assert_non_null(strstr(err_message(), "only 1 images follow"));
    o.first_frame = 50, o.frames = 0;
    assert_int_equal(sft_sequence_load(&seq, R1, &o), -1);
    assert_non_null(strstr(err_message(), "rgb_050.png: missing"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crop_keeps_the_full_frame_loss),
        cmocka_unit_test(test_projected_template_renders_frame0),
        cmocka_unit_test(test_sequence_errors_name_the_file),
    };
    return cmocka_run_group_tests(tests, petsc_fixture_setup, petsc_fixture_teardown);
}

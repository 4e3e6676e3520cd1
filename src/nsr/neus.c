/* neus.c — NeuS sampling, rendering, losses and their backward on batched GEMMs (see neus.h). */
#include "phive/neus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"
#include "nsr_render.h"
#include "phive/errors.h"

#define PAR_THREADS mlp_elementwise_threads()
#include "rng.h"

void neus_render_options_default(neus_render_options *o)
{
    *o = (neus_render_options){
        .n_samples = 64, .n_importance = 64, .up_sample_steps = 4, .perturb = 1, .det_importance = 1,
        .cos_anneal_ratio = 1.0, .gradient = NEUS_GRADIENT_ANALYTIC, .fd_eps = 1e-4, .background = 0,
        .background_rgb = {0, 0, 0}, .eikonal_radius = 1.2, .color_weight = 1.0, .eikonal_weight = 0.1,
        .mask_weight = 0.1, .chunk_rays = 64, .n_outside = 0, .normal_weight = 0,
    };
}

static int check_options(const neus_render_options *o)
{
    if (o->n_samples < 2) return err_set("neus: n_samples %d < 2", o->n_samples);
    if (o->n_importance < 0 || o->up_sample_steps < 0 ||
        (o->n_importance > 0 && (o->up_sample_steps == 0 || o->n_importance % o->up_sample_steps != 0)))
        return err_set("neus: n_importance %d is not a multiple of up_sample_steps %d", o->n_importance,
                       o->up_sample_steps);
    if (o->n_outside < 0) return err_set("neus: n_outside %d < 0", o->n_outside);
    /* the per-ray random stream holds 510 uniforms after the perturbation (see neus.h) */
    if (o->n_importance + o->n_outside > 510)
        return err_set("neus: n_importance + n_outside = %d > 510", o->n_importance + o->n_outside);
    if (o->up_sample_steps > 30) return err_set("neus: up_sample_steps %d > 30", o->up_sample_steps);
    if (o->gradient != NEUS_GRADIENT_ANALYTIC && o->gradient != NEUS_GRADIENT_FD && o->gradient != NEUS_GRADIENT_FD6)
        return err_set("neus: unknown gradient mode %d", (int)o->gradient);
    if (o->gradient != NEUS_GRADIENT_ANALYTIC && !(o->fd_eps > 0)) return err_set("neus: fd_eps %g <= 0", o->fd_eps);
    if (o->normal_weight != 0 && o->gradient != NEUS_GRADIENT_FD6)
        return err_set("neus: the normal smoothness term needs the Laplacian of the 6-tap FD gradient");
    if (!(o->cos_anneal_ratio >= 0 && o->cos_anneal_ratio <= 1))
        return err_set("neus: cos_anneal_ratio %g outside [0, 1]", o->cos_anneal_ratio);
    if (o->chunk_rays < 1) return err_set("neus: chunk_rays %d < 1", o->chunk_rays);
    return 0;
}

/* ---- workspace ------------------------------------------------------------------------------ */

/* FD taps per sample: 0 (analytic), 4 (tetrahedral), 6 (central). */
static int fd_taps(neus_gradient_mode mode) { return mode == NEUS_GRADIENT_FD ? 4 : (mode == NEUS_GRADIENT_FD6 ? 6 : 0); }

static real *alloc_reals(size_t n, int *failed)
{
    real *p = malloc((n > 0 ? n : 1) * sizeof(real));
    if (!p) *failed = 1;
    return p;
}

int neus_workspace_alloc(neus_workspace *ws, const neus_model *m, const neus_render_options *o, int max_rays)
{
    memset(ws, 0, sizeof *ws);
    if (check_options(o)) return -1;
    if (max_rays < 1) return err_set("neus: workspace for %d rays", max_rays);
    if (m->enc_dir.ops->has_params) return err_set("neus: a direction encoding with parameters is not supported");
    if (o->gradient == NEUS_GRADIENT_ANALYTIC && !m->enc_xyz.ops->jvp)
        return err_set("neus: the %s encoding has no jvp: use the FD SDF gradient", m->enc_xyz.ops->name);
    const size_t N = (size_t)max_rays, S = (size_t)(o->n_samples + o->n_importance);
    const int chunk = o->chunk_rays < max_rays ? o->chunk_rays : max_rays;
    const size_t R = (size_t)chunk * S, taps = 1 + (size_t)fd_taps(o->gradient), R5 = taps * R;
    const size_t per = o->n_importance > 0 ? (size_t)(o->n_importance / o->up_sample_steps) : 1;
    ws->max_rays = max_rays;
    ws->chunk_rays = chunk;
    ws->n_per_ray = (int)S;
    ws->gradient = o->gradient;
    int failed = 0;
    ws->z = alloc_reals(N * S, &failed);
    ws->mid = alloc_reals(N * S, &failed);
    ws->sdf = alloc_reals(N * S, &failed);
    ws->gradient_out = alloc_reals(N * S * 3, &failed);
    ws->weights = alloc_reals(N * S, &failed);
    ws->color = alloc_reals(N * 3, &failed);
    ws->weight_sum = alloc_reals(N, &failed);
    ws->z_tmp = alloc_reals(N * S, &failed);
    ws->sdf_cur = alloc_reals(N * S, &failed);
    ws->sdf_tmp = alloc_reals(N * S, &failed);
    ws->z_new = alloc_reals(N * per, &failed);
    ws->sdf_new = alloc_reals(N * per, &failed);
    ws->scratch = alloc_reals(N * 3 * S + R, &failed);
    ws->pts = alloc_reals(R5 * 3, &failed);
    ws->enc_dir = alloc_reals((size_t)chunk * m->n_enc_dir, &failed);
    if (o->gradient == NEUS_GRADIENT_ANALYTIC) {
        ws->grad_u = alloc_reals(R * m->n_enc_xyz, &failed);
        ws->grad_g_u = alloc_reals(R * m->n_enc_xyz, &failed);
    } else if (m->enc_xyz.ops->has_params) { /* dL/du of every tap, for the encoding's parameters */
        ws->grad_u = alloc_reals(R5 * m->n_enc_xyz, &failed);
    }
    ws->sdf_adj = alloc_reals(R5 * m->sdf_out, &failed);
    ws->grad_adj = alloc_reals(R * 3, &failed);
    ws->rgb = alloc_reals(R * 3, &failed);
    ws->rgb_adj = alloc_reals(R * 3, &failed);
    ws->color_in_adj = alloc_reals(R * m->color_in, &failed);
    ws->alpha = alloc_reals(R, &failed);
    if (o->gradient == NEUS_GRADIENT_FD6) {
        ws->laplacian = alloc_reals(N * S, &failed);
        ws->sample_gw = alloc_reals(R, &failed);
        ws->lap_adj = alloc_reals(R, &failed);
    }
    ws->trans = alloc_reals(R, &failed);
    ws->inside = alloc_reals(R, &failed);
    ws->dists = alloc_reals(R, &failed);
    ws->ray_grad_s = malloc((size_t)chunk * sizeof(double));
    const size_t M = (size_t)o->n_outside, T = S + M, RT = (size_t)chunk * T;
    if (M > 0) {
        if (!m->cfg.background) return err_set("neus: n_outside = %d needs a model with a background network", o->n_outside);
        ws->n_outside = o->n_outside;
        ws->z_out = alloc_reals(N * M, &failed);
        ws->all_gw = alloc_reals(RT, &failed);
        real **per_sample[] = {&ws->all_alpha, &ws->all_trans, &ws->all_w, &ws->all_galpha, &ws->bg_dist,
                               &ws->bg_alpha, &ws->bg_dalpha};
        for (size_t k = 0; k < sizeof per_sample / sizeof *per_sample; ++k) *per_sample[k] = alloc_reals(RT, &failed);
        ws->all_rgb = alloc_reals(RT * 3, &failed);
        ws->all_gc = alloc_reals(RT * 3, &failed);
        ws->bg_rgb = alloc_reals(RT * 3, &failed);
        ws->bg_rgb_adj = alloc_reals(RT * 3, &failed);
        ws->bg_q = alloc_reals(RT * 4, &failed);
        ws->bg_enc_dir = alloc_reals((size_t)chunk * m->n_enc_bg_dir, &failed);
        ws->bg_adj = alloc_reals(RT * m->bg_out, &failed);
        ws->bg_cin_adj = alloc_reals(RT * m->bg_color_in, &failed);
        ws->bg_row = malloc(RT * sizeof(int));
        ws->bg_ray = malloc(RT * sizeof(int));
        failed |= !ws->bg_row || !ws->bg_ray;
    }
    if (failed || !ws->ray_grad_s) {
        neus_workspace_free(ws, m);
        return err_set("neus: out of memory for a workspace of %d rays × %zu samples", max_rays, S);
    }
    if (mlp_buffers_alloc_ex(&ws->sdf_buf, &m->sdf, (int)R5, o->gradient == NEUS_GRADIENT_ANALYTIC) ||
        mlp_buffers_alloc(&ws->color_buf, &m->color, (int)R) ||
        (M > 0 && (mlp_buffers_alloc(&ws->bg_buf, &m->bg, (int)RT) ||
                   mlp_buffers_alloc(&ws->bg_color_buf, &m->bg_color, (int)RT)))) {
        neus_workspace_free(ws, m);
        return -1;
    }
    return 0;
}

void neus_workspace_free(neus_workspace *ws, const neus_model *m)
{
    real *arrays[] = {ws->z, ws->mid, ws->sdf, ws->gradient_out, ws->weights, ws->color, ws->weight_sum, ws->z_tmp,
                      ws->sdf_cur, ws->sdf_tmp, ws->z_new, ws->sdf_new, ws->scratch, ws->pts, ws->enc_dir,
                      ws->grad_u, ws->grad_g_u, ws->sdf_adj, ws->grad_adj, ws->rgb, ws->rgb_adj, ws->color_in_adj,
                      ws->alpha, ws->trans, ws->inside, ws->dists, ws->laplacian, ws->sample_gw, ws->lap_adj,
                      ws->all_gw, ws->z_out, ws->all_alpha, ws->all_rgb,
                      ws->all_trans, ws->all_w, ws->all_galpha, ws->all_gc, ws->bg_q, ws->bg_dist, ws->bg_alpha,
                      ws->bg_dalpha, ws->bg_rgb, ws->bg_enc_dir, ws->bg_adj, ws->bg_cin_adj, ws->bg_rgb_adj};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; ++i) free(arrays[i]);
    free(ws->ray_grad_s);
    free(ws->bg_row);
    free(ws->bg_ray);
    if (ws->sdf_buf.act[0]) mlp_buffers_free(&ws->sdf_buf, &m->sdf);
    if (ws->color_buf.act[0]) mlp_buffers_free(&ws->color_buf, &m->color);
    if (ws->bg_buf.act[0]) mlp_buffers_free(&ws->bg_buf, &m->bg);
    if (ws->bg_color_buf.act[0]) mlp_buffers_free(&ws->bg_color_buf, &m->bg_color);
    memset(ws, 0, sizeof *ws);
}

static int check_batch(const neus_ray_batch *rays, const neus_workspace *ws)
{
    if (rays->n < 0 || rays->n > ws->max_rays)
        return err_set("neus: %d rays for a workspace of %d", rays->n, ws->max_rays);
    if (rays->n > 0 && (!rays->origin || !rays->direction || !rays->near || !rays->far))
        return err_set("neus: a ray batch without origins, directions or near/far");
    for (int b = 0; b < rays->n; ++b) {
        const real *o = rays->origin + 3 * b, *d = rays->direction + 3 * b;
        double len = sqrt((double)d[0] * d[0] + (double)d[1] * d[1] + (double)d[2] * d[2]);
        if (!isfinite(o[0]) || !isfinite(o[1]) || !isfinite(o[2]) || !isfinite(len) || !isfinite(rays->near[b]) ||
            !isfinite(rays->far[b]))
            return err_set("neus: ray %d has a non-finite origin, direction or near/far", b);
        if (fabs(len - 1) > 1e-3) return err_set("neus: ray %d has a direction of length %g (unit expected)", b, len);
        if (!(rays->far[b] > rays->near[b]))
            return err_set("neus: ray %d has far %g <= near %g", b, (double)rays->far[b], (double)rays->near[b]);
    }
    return 0;
}

static int check_targets(const neus_render_options *o, const neus_ray_batch *rays)
{
    for (int b = 0; b < rays->n; ++b) {
        const real *c = rays->rgb + 3 * b;
        if (!isfinite(c[0]) || !isfinite(c[1]) || !isfinite(c[2]) || (o->mask_weight > 0 && !isfinite(rays->mask[b])))
            return err_set("neus: ray %d has a non-finite target colour or mask", b);
    }
    return 0;
}

/* ---- sampling ------------------------------------------------------------------------------- */

/* f of point o_b + z[b·stride + j0 + j]·d_b for every ray b and j < count, into out[b·out_stride + j]. */
static void eval_sdf_along(const neus_model *m, const param_set *p, neus_workspace *ws, const neus_ray_batch *rays,
                           const real *z, int stride, int j0, int count, real *out, int out_stride)
{
    const long total = (long)rays->n * count;
    const int capacity = ws->sdf_buf.capacity, n_out = m->sdf_out, n_layers = m->sdf.n_layers;
    for (long start = 0; start < total; start += capacity) {
        int rows = (int)(total - start < capacity ? total - start : capacity);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (rows > 4096))
        for (int i = 0; i < rows; ++i) {
            long k = start + i;
            int b = (int)(k / count), j = (int)(k % count);
            real t = z[(size_t)b * stride + j0 + j];
            for (int c = 0; c < 3; ++c) ws->pts[3 * (size_t)i + c] = rays->origin[3 * b + c] + t * rays->direction[3 * b + c];
        }
        m->enc_xyz.ops->forward(&m->enc_xyz, p, ws->pts, rows, ws->sdf_buf.act[0]);
        mlp_forward_cols(&m->sdf, p, &ws->sdf_buf, rows, 1);
        const real *y = ws->sdf_buf.act[n_layers];
        for (int i = 0; i < rows; ++i) {
            long k = start + i;
            out[(k / count) * out_stride + k % count] = y[(size_t)i * n_out];
        }
    }
}

static void sort_small(real *v, int n)
{
    for (int i = 1; i < n; ++i) {
        real x = v[i];
        int j = i - 1;
        for (; j >= 0 && v[j] > x; --j) v[j + 1] = v[j];
        v[j + 1] = x;
    }
}

int neus_sample(const neus_model *m, const param_set *p, const neus_render_options *o, const neus_ray_batch *rays,
                const rng_t *rng, uint64_t stream, neus_workspace *ws)
{
    if (check_options(o) || check_batch(rays, ws)) return -1;
    if (o->n_samples + o->n_importance != ws->n_per_ray)
        return err_set("neus: %d + %d samples per ray for a workspace of %d", o->n_samples, o->n_importance,
                       ws->n_per_ray);
    if (!rng && (o->perturb || (!o->det_importance && o->n_importance > 0)))
        return err_set("neus: random sampling needs a generator");
    const int N = rays->n, S = ws->n_per_ray, n0 = o->n_samples;
    const int per = o->n_importance > 0 ? o->n_importance / o->up_sample_steps : 0;
    real *z = ws->z, *f = ws->sdf_cur;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)N * S > 4096))
    for (int b = 0; b < N; ++b) {
        real shift = 0;
        if (o->perturb) {
            double u[2];
            rng_uniform2_at(rng, stream, 256 * (rays->first + (uint64_t)b), u);
            shift = (real)((u[0] - 0.5) * 2.0 / n0);
        }
        neus_ray_coarse(n0, rays->near[b], rays->far[b], shift, z + (size_t)b * S);
    }
    eval_sdf_along(m, p, ws, rays, z, S, 0, n0, f, S);
    int cur = n0;
    for (int step = 0; per > 0 && step < o->up_sample_steps; ++step) {
        const real inv_s = (real)(64.0 * (double)(1 << step));
        const int last = step + 1 == o->up_sample_steps;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)N * S > 4096))
        for (int b = 0; b < N; ++b) {
            real *w = ws->scratch + (size_t)b * 3 * S, *cdf = w + S, *u = cdf + S;
            const real *zb = z + (size_t)b * S;
            neus_upsample_weights(cur, zb, f + (size_t)b * S, rays->origin + 3 * b, rays->direction + 3 * b, inv_s, w);
            if (!o->det_importance) {
                for (int k = 0; k < per; ++k) {
                    int idx = step * per + k;
                    double uu[2];
                    rng_uniform2_at(rng, stream, 256 * (rays->first + (uint64_t)b) + 1 + (uint64_t)(idx / 2), uu);
                    u[k] = (real)uu[idx % 2];
                }
                sort_small(u, per);
            }
            neus_sample_pdf(cur, zb, w, per, o->det_importance ? NULL : u, cdf, ws->z_new + (size_t)b * per);
        }
        if (!last) eval_sdf_along(m, p, ws, rays, ws->z_new, per, 0, per, ws->sdf_new, per);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)N * S > 4096))
        for (int b = 0; b < N; ++b) {
            real *zb = z + (size_t)b * S, *fb = f + (size_t)b * S;
            real *zt = ws->z_tmp + (size_t)b * S, *ft = ws->sdf_tmp + (size_t)b * S;
            neus_merge_sorted(cur, zb, last ? NULL : fb, per, ws->z_new + (size_t)b * per,
                              last ? NULL : ws->sdf_new + (size_t)b * per, zt, last ? NULL : ft);
            memcpy(zb, zt, (size_t)(cur + per) * sizeof(real));
            if (!last) memcpy(fb, ft, (size_t)(cur + per) * sizeof(real));
        }
        cur += per;
    }
    const int M = o->n_outside;
    if (M > 0 && M != ws->n_outside) return err_set("neus: %d outside samples for a workspace of %d", M, ws->n_outside);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && ((long)N * M > 4096))
    for (int b = 0; b < N * (M > 0); ++b) {
        real u[510];
        for (int k = 0; o->perturb && k < M; ++k) {
            int idx = o->n_importance + k;
            double uu[2];
            rng_uniform2_at(rng, stream, 256 * (rays->first + (uint64_t)b) + 1 + (uint64_t)(idx / 2), uu);
            u[k] = (real)uu[idx % 2];
        }
        nerfpp_outside_samples(M, rays->far[b], (real)o->n_samples, o->perturb ? u : NULL, ws->z_out + (size_t)b * M);
    }
    ws->n_rays = N;
    return 0;
}

/* ---- normalisers ---------------------------------------------------------------------------- */

static real ray_mask(const neus_render_options *o, const neus_ray_batch *rays, int b)
{
    return o->mask_weight > 0 ? (rays->mask[b] > (real)0.5 ? (real)1 : (real)0) : (real)1;
}

void neus_count(const neus_render_options *o, const neus_ray_batch *rays, const neus_workspace *ws,
                neus_normalizers *norm)
{
    const int S = ws->n_per_ray;
    const real last = (real)(2.0 / o->n_samples);
    double mask_sum = 0, count = 0;
    for (int b = 0; b < rays->n; ++b) {
        if (rays->mask || o->mask_weight <= 0) mask_sum += ray_mask(o, rays, b);
        const real *zb = ws->z + (size_t)b * S;
        for (int i = 0; i < S; ++i) {
            real dist = i + 1 < S ? zb[i + 1] - zb[i] : last, t = zb[i] + dist * (real)0.5, pt[3];
            for (int c = 0; c < 3; ++c) pt[c] = rays->origin[3 * b + c] + t * rays->direction[3 * b + c];
            count += neus_norm3(pt) < (real)o->eikonal_radius;
        }
    }
    norm->rays = rays->n;
    norm->mask_sum = mask_sum;
    norm->eikonal_count = count;
}

/* ---- forward and backward of one chunk ------------------------------------------------------ */

typedef struct {
    const neus_model *m;
    param_set *p;
    const neus_render_options *o;
    const neus_ray_batch *rays;
    neus_normalizers norm;
    int backward, with_loss;
    real inv_s;
    real bg[3];
    neus_workspace *ws;
    neus_loss sums;
    double grad_s;
} neus_pass;

/* ---- NeRF++ background (NeuS render_core_outside and its mixing in render_core) ---------------- */

/* The background of a chunk's T = S + M samples per ray (fg then outside, already in order):
 * sections over the joined list (last = 2/n_samples), and for the samples it can show (the fg
 * ones outside the unit sphere and all outside ones) σ and colour from the NeRF.  Fills
 * bg_row/bg_ray, bg_dist, bg_alpha, bg_dalpha, bg_rgb. */
static void background_forward(neus_pass *ps, int r0, int nr)
{
    const neus_model *m = ps->m;
    neus_workspace *ws = ps->ws;
    const int S = ws->n_per_ray, M = ws->n_outside, T = S + M;
    const real *origin = ps->rays->origin + 3 * r0, *dir = ps->rays->direction + 3 * r0;
    int rows = 0;
    for (int b = 0; b < nr; ++b) {
        const real *zf = ws->z + (size_t)(r0 + b) * S, *zo = ws->z_out + (size_t)(r0 + b) * M;
        for (int j = 0; j < T; ++j) {
            real z = j < S ? zf[j] : zo[j - S], z_next = j + 1 < S ? zf[j + 1] : (j + 1 < T ? zo[j + 1 - S] : 0);
            real dist = j + 1 < T ? z_next - z : (real)(2.0 / ps->o->n_samples), t = z + dist * (real)0.5, p[3];
            for (int c = 0; c < 3; ++c) p[c] = origin[3 * b + c] + t * dir[3 * b + c];
            size_t k = (size_t)b * T + j;
            ws->bg_dist[k] = dist;
            ws->bg_row[k] = -1;
            if (j < S && neus_norm3(ws->pts + 3 * ((size_t)b * S + j)) < 1) continue; /* the fg shows it */
            ws->bg_row[k] = rows;
            ws->bg_ray[rows] = b;
            nerfpp_contract(p, ws->bg_q + 4 * (size_t)rows);
            rows++;
        }
    }
    ws->bg_rows = rows;
    m->enc_bg_dir.ops->forward(&m->enc_bg_dir, ps->p, dir, nr, ws->bg_enc_dir);
    if (rows == 0) return;
    mlp_buffers *db = &ws->bg_buf, *cb = &ws->bg_color_buf;
    m->enc_bg.ops->forward(&m->enc_bg, ps->p, ws->bg_q, rows, db->act[0]);
    mlp_forward(&m->bg, ps->p, db, rows);
    const real *y = db->act[m->bg.n_layers];
    const int W = m->cfg.bg_width, nd = m->n_enc_bg_dir, CI = m->bg_color_in, O = m->bg_out;
    for (int i = 0; i < rows; ++i) {
        real *row = cb->act[0] + (size_t)i * CI;
        memcpy(row, y + (size_t)i * O + 1, (size_t)W * sizeof(real));
        memcpy(row + W, ws->bg_enc_dir + (size_t)ws->bg_ray[i] * nd, (size_t)nd * sizeof(real));
    }
    mlp_forward(&m->bg_color, ps->p, cb, rows);
    const real *logits = cb->act[m->bg_color.n_layers];
    for (long j = 0; j < 3L * rows; ++j) ws->bg_rgb[j] = neus_sigmoid(logits[j]);
    for (int b = 0; b < nr; ++b)
        for (int j = 0; j < T; ++j) {
            size_t k = (size_t)b * T + j;
            int r = ws->bg_row[k];
            if (r >= 0) ws->bg_alpha[r] = nerfpp_alpha(y[(size_t)r * O], ws->bg_dist[k], &ws->bg_dalpha[r]);
        }
}

/* Joins fg and background per ray (NeuS: α = α_fg·inside + α_bg·(1 − inside), then the outside
 * samples) and composites the T samples; the fg α of the chunk are in ws->alpha. */
static void background_composite(neus_pass *ps, int r0, int nr, const real *fg_rgb)
{
    neus_workspace *ws = ps->ws;
    const int S = ws->n_per_ray, T = S + ws->n_outside;
    const real *bg = ps->o->background ? ps->bg : NULL;
    for (int b = 0; b < nr; ++b) {
        for (int j = 0; j < T; ++j) {
            size_t k = (size_t)b * T + j, i = (size_t)b * S + j;
            int r = ws->bg_row[k];
            ws->all_alpha[k] = r < 0 ? ws->alpha[i] : ws->bg_alpha[r];
            memcpy(ws->all_rgb + 3 * k, r < 0 ? fg_rgb + 3 * i : ws->bg_rgb + 3 * (size_t)r, 3 * sizeof(real));
        }
        size_t k = (size_t)b * T;
        neus_composite_forward(T, ws->all_alpha + k, ws->all_rgb + 3 * k, bg, ws->all_trans + k, ws->all_w + k,
                               ws->color + 3 * (size_t)(r0 + b), ws->weight_sum + r0 + b);
        memcpy(ws->weights + (size_t)(r0 + b) * S, ws->all_w + k, (size_t)S * sizeof(real));
        memcpy(ws->trans + (size_t)b * S, ws->all_trans + k, (size_t)S * sizeof(real));
    }
}

/* The backward of background_composite from dL/dC and dL/dW per ray (and dL/dw of the fg samples, or
 * NULL): the fg samples inside the sphere
 * get dL/dα (into fg_galpha, S per ray) and dL/dc (added to fg_gc); the background rows get theirs,
 * and the NeRF's backward accumulates its parameter gradients. */
static void background_backward(neus_pass *ps, int nr, const real *grad_c, const real *grad_w, const real *fg_gw,
                                real *fg_galpha, real *fg_gc)
{
    const neus_model *m = ps->m;
    neus_workspace *ws = ps->ws;
    const int S = ws->n_per_ray, T = S + ws->n_outside, rows = ws->bg_rows;
    const real *bg = ps->o->background ? ps->bg : NULL;
    const int W = m->cfg.bg_width, O = m->bg_out, CI = m->bg_color_in;
    memset(ws->all_gc, 0, 3 * (size_t)nr * T * sizeof(real));
    for (int b = 0; b < nr; ++b) {
        size_t k = (size_t)b * T;
        if (fg_gw) { /* per-sample dL/dw of the fg samples (normal smoothness), 0 for the outside ones */
            memcpy(ws->all_gw + k, fg_gw + (size_t)b * S, (size_t)S * sizeof(real));
            memset(ws->all_gw + k + S, 0, (size_t)(T - S) * sizeof(real));
        }
        neus_composite_backward(T, ws->all_alpha + k, ws->all_rgb + 3 * k, bg, ws->all_trans + k, ws->all_w + k,
                                grad_c + 3 * b, grad_w[b], fg_gw ? ws->all_gw + k : NULL, ws->all_galpha + k,
                                ws->all_gc + 3 * k);
        for (int j = 0; j < T; ++j) {
            int r = ws->bg_row[k + j];
            if (j < S) fg_galpha[(size_t)b * S + j] = r < 0 ? ws->all_galpha[k + j] : 0;
            if (r < 0) {
                for (int c = 0; c < 3; ++c) fg_gc[3 * ((size_t)b * S + j) + c] += ws->all_gc[3 * (k + j) + c];
                continue;
            }
            real *adj = ws->bg_adj + (size_t)r * O;
            memset(adj, 0, (size_t)O * sizeof(real));
            adj[0] = ws->all_galpha[k + j] * ws->bg_dalpha[r];
            for (int c = 0; c < 3; ++c) {
                real col = ws->bg_rgb[3 * (size_t)r + c];
                ws->bg_rgb_adj[3 * (size_t)r + c] = ws->all_gc[3 * (k + j) + c] * col * (1 - col);
            }
        }
    }
    if (rows == 0) return;
    mlp_backward(&m->bg_color, ps->p, &ws->bg_color_buf, rows, ws->bg_rgb_adj, ws->bg_cin_adj);
    for (int i = 0; i < rows; ++i)
        for (int c = 0; c < W; ++c) ws->bg_adj[(size_t)i * O + 1 + c] = ws->bg_cin_adj[(size_t)i * CI + c];
    mlp_backward(&m->bg, ps->p, &ws->bg_buf, rows, ws->bg_adj, NULL);
}

static void chunk_run(neus_pass *ps, int r0, int nr)
{
    const neus_model *m = ps->m;
    const neus_render_options *o = ps->o;
    const neus_ray_batch *rays = ps->rays;
    neus_workspace *ws = ps->ws;
    param_set *p = ps->p;
    const int S = ws->n_per_ray, R = nr * S, taps = fd_taps(o->gradient), fd = taps > 0, rows_sdf = (1 + taps) * R;
    const real kappa = taps == 4 ? (real)4 : (real)2; /* Σ v vᵀ = κ I */
    const int nd = m->n_enc_dir, O = m->sdf_out, CI = m->color_in, nf = m->cfg.sdf_features;
    const real s = ps->inv_s, ratio = (real)o->cos_anneal_ratio, eps = (real)o->fd_eps;
    const real *bg = o->background ? ps->bg : NULL;
    real *mid = ws->mid + (size_t)r0 * S, *f = ws->sdf + (size_t)r0 * S, *g = ws->gradient_out + (size_t)r0 * S * 3;
    real *w = ws->weights + (size_t)r0 * S, *pts = ws->pts;
    const real *origin = rays->origin + 3 * r0, *dir = rays->direction + 3 * r0;

    /* sections, points (+ FD taps), view-direction encoding */
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
    for (int b = 0; b < nr; ++b) {
        neus_ray_sections(S, ws->z + (size_t)(r0 + b) * S, (real)(2.0 / o->n_samples), mid + (size_t)b * S,
                          ws->dists + (size_t)b * S);
        for (int i = b * S; i < (b + 1) * S; ++i) {
            real pt[3];
            for (int c = 0; c < 3; ++c) pt[c] = pts[3 * (size_t)i + c] = origin[3 * b + c] + mid[i] * dir[3 * b + c];
            ws->inside[i] = neus_norm3(pt) < (real)o->eikonal_radius;
            for (int k = 0; k < taps; ++k)
                for (int c = 0; c < 3; ++c)
                    pts[3 * ((size_t)(k + 1) * R + i) + c] = pt[c] + eps * neus_fd_tap(taps, k, c);
        }
    }
    m->enc_dir.ops->forward(&m->enc_dir, p, dir, nr, ws->enc_dir);

    /* SDF, features and ∇f */
    mlp_buffers *sb = &ws->sdf_buf;
    m->enc_xyz.ops->forward(&m->enc_xyz, p, pts, rows_sdf, sb->act[0]);
    mlp_forward(&m->sdf, p, sb, rows_sdf);
    const real *y = sb->act[m->sdf.n_layers];
    if (!fd) {
        mlp_input_gradient(&m->sdf, p, sb, R, 0, ws->grad_u);
        m->enc_xyz.ops->backward(&m->enc_xyz, p, pts, sb->act[0], R, ws->grad_u, g, 0);
    }
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
    for (int i = 0; i < R; ++i) {
        f[i] = y[(size_t)i * O];
        if (fd) {
            real gi[3] = {0, 0, 0}, sum = 0;
            for (int k = 0; k < taps; ++k) {
                real tap = y[((size_t)(k + 1) * R + i) * O];
                sum += tap;
                for (int c = 0; c < 3; ++c) gi[c] += neus_fd_tap(taps, k, c) * tap;
            }
            for (int c = 0; c < 3; ++c) g[3 * (size_t)i + c] = gi[c] / (kappa * eps);
            if (taps == 6) ws->laplacian[(size_t)r0 * S + i] = (sum - 6 * f[i]) / (eps * eps);
        }
    }

    /* colour network: [x, PE(d), ∇f, feature] → sigmoid */
    mlp_buffers *cb = &ws->color_buf;
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
    for (int i = 0; i < R; ++i) {
        real *row = cb->act[0] + (size_t)i * CI;
        memcpy(row, pts + 3 * (size_t)i, 3 * sizeof(real));
        memcpy(row + 3, ws->enc_dir + (size_t)(i / S) * nd, (size_t)nd * sizeof(real));
        memcpy(row + 3 + nd, g + 3 * (size_t)i, 3 * sizeof(real));
        memcpy(row + 6 + nd, y + (size_t)i * O + 1, (size_t)nf * sizeof(real));
    }
    mlp_forward(&m->color, p, cb, R);
    const real *logits = cb->act[m->color.n_layers];
    for (long j = 0; j < 3L * R; ++j) ws->rgb[j] = neus_sigmoid(logits[j]);

    /* render */
    const int with_bg = ws->n_outside > 0;
    if (with_bg) background_forward(ps, r0, nr);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
    for (int b = 0; b < nr; ++b) {
        size_t k = (size_t)b * S;
        if (with_bg)
            for (int i = 0; i < S; ++i)
                ws->alpha[k + i] = neus_section_alpha(f[k + i], g + 3 * (k + i), ws->dists[k + i], dir + 3 * b, s, ratio);
        else
            neus_ray_forward(S, f + k, g + 3 * k, ws->rgb + 3 * k, ws->dists + k, dir + 3 * b, s, ratio, bg,
                             ws->alpha + k, ws->trans + k, w + k, ws->color + 3 * (size_t)(r0 + b),
                             ws->weight_sum + r0 + b);
    }
    if (with_bg) background_composite(ps, r0, nr, ws->rgb);
    if (!ps->with_loss) return;

    /* losses and their gradients w.r.t. C, W and ∇f */
    const double color_den = ps->norm.mask_sum + 1e-5, eik_den = ps->norm.eikonal_count + 1e-5;
    const double rays_den = ps->norm.rays > 0 ? ps->norm.rays : 1;
    real *grad_c_all = ws->scratch, *grad_w_all = ws->scratch + 3 * (size_t)nr;
    for (int b = 0; b < nr; ++b) {
        const int gb = r0 + b;
        const real mk = ray_mask(o, rays, gb);
        const real *C = ws->color + 3 * (size_t)gb, *target = rays->rgb + 3 * (size_t)gb;
        for (int c = 0; c < 3; ++c) {
            double e = (double)C[c] - (double)target[c];
            ps->sums.color += fabs(e) * mk / color_den;
            ps->sums.sq_error += e * e * mk;
            grad_c_all[3 * b + c] = (real)(o->color_weight * (e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0)) * mk / color_den);
        }
        grad_w_all[b] = 0;
        if (o->mask_weight > 0) {
            real dW;
            ps->sums.mask += neus_mask_bce(ws->weight_sum[gb], mk, &dW) / rays_den;
            grad_w_all[b] = (real)(o->mask_weight * dW / rays_den);
        }
    }
    for (int i = 0; i < R; ++i) {
        real dg[3];
        real e = neus_eikonal(g + 3 * (size_t)i, dg);
        real k = ws->inside[i] > 0 ? (real)(o->eikonal_weight / eik_den) : (real)0;
        if (ws->inside[i] > 0) ps->sums.eikonal += e / eik_den;
        for (int c = 0; c < 3; ++c) ws->grad_adj[3 * (size_t)i + c] = k * dg[c];
    }
    /* normal smoothness |Σ_i w_i Δf_i| per ray: dL/dw_i = a Δf_i, dL/dΔf_i = a w_i with a = λ sign/rays */
    const int with_normal = taps == 6 && o->normal_weight != 0;
    for (int b = 0; with_normal && b < nr; ++b) {
        const real *lap = ws->laplacian + (size_t)(r0 + b) * S, *wb = w + (size_t)b * S;
        double acc = 0;
        for (int i = 0; i < S; ++i) acc += (double)wb[i] * lap[i];
        ps->sums.normal += fabs(acc) / rays_den;
        real a = (real)(o->normal_weight * (acc > 0 ? 1.0 : (acc < 0 ? -1.0 : 0.0)) / rays_den);
        for (int i = 0; i < S; ++i) {
            ws->sample_gw[(size_t)b * S + i] = a * lap[i];
            ws->lap_adj[(size_t)b * S + i] = a * wb[i];
        }
    }
    if (!ps->backward) return;

    /* backward of the render: dL/df (column 0 of sdf_adj), dL/d∇f, dL/dc, dL/ds */
    real *grad_f = ws->scratch + 4 * (size_t)nr, *grad_alpha = grad_f + R;
    memset(grad_f, 0, (size_t)R * sizeof(real));
    memset(ws->rgb_adj, 0, 3 * (size_t)R * sizeof(real));
    const real *sample_gw = with_normal ? ws->sample_gw : NULL;
    if (with_bg) background_backward(ps, nr, grad_c_all, grad_w_all, sample_gw, grad_alpha, ws->rgb_adj);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
    for (int b = 0; b < nr; ++b) {
        size_t k = (size_t)b * S;
        if (!with_bg) {
            ws->ray_grad_s[b] = neus_ray_backward(S, f + k, g + 3 * k, ws->rgb + 3 * k, ws->dists + k, dir + 3 * b, s,
                                                  ratio, bg, ws->alpha + k, ws->trans + k, w + k, grad_c_all + 3 * b,
                                                  grad_w_all[b], sample_gw ? sample_gw + k : NULL, grad_alpha + k,
                                                  grad_f + k, ws->grad_adj + 3 * k,
                                                  ws->rgb_adj + 3 * k);
            continue;
        }
        double gs = 0;
        for (int i = 0; i < S; ++i)
            gs += neus_section_alpha_backward(grad_alpha[k + i], f[k + i], g + 3 * (k + i), ws->dists[k + i], dir + 3 * b,
                                              s, ratio, grad_f + k + i, ws->grad_adj + 3 * (k + i));
        ws->ray_grad_s[b] = gs;
    }
    for (int b = 0; b < nr; ++b) ps->grad_s += ws->ray_grad_s[b];

    /* colour network backward: through the sigmoid, into ∇f and the features */
    for (long j = 0; j < 3L * R; ++j) ws->rgb_adj[j] *= ws->rgb[j] * (1 - ws->rgb[j]);
    mlp_backward(&m->color, p, cb, R, ws->rgb_adj, ws->color_in_adj);
    real *ya = ws->sdf_adj;
    const real inv_eps2 = 1 / (eps * eps);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
    for (int i = 0; i < R; ++i) {
        if (with_normal) grad_f[i] -= 6 * inv_eps2 * ws->lap_adj[i]; /* Δf's centre tap */
        const real *cin = ws->color_in_adj + (size_t)i * CI;
        for (int c = 0; c < 3; ++c) ws->grad_adj[3 * (size_t)i + c] += cin[3 + nd + c];
        real *row = ya + (size_t)i * O;
        row[0] = grad_f[i];
        memcpy(row + 1, cin + 6 + nd, (size_t)nf * sizeof(real));
    }

    /* SDF network backward, with the gradient path */
    if (!fd) {
        m->enc_xyz.ops->jvp(&m->enc_xyz, p, pts, sb->act[0], R, ws->grad_adj, ws->grad_g_u);
        mlp_backward_second(&m->sdf, p, sb, R, 0, ya, ws->grad_g_u, NULL);
    } else {
        const real scale = 1 / (kappa * eps);
#pragma omp parallel for schedule(static) num_threads(PAR_THREADS) if (PAR_THREADS > 1 && (R > 4096))
        for (int i = 0; i < R; ++i) {
            const real *gi = ws->grad_adj + 3 * (size_t)i;
            const real lap = with_normal ? ws->lap_adj[i] * inv_eps2 : 0;
            for (int k = 0; k < taps; ++k) {
                real *row = ya + ((size_t)(k + 1) * R + i) * O;
                memset(row, 0, (size_t)O * sizeof(real));
                row[0] = scale * (neus_fd_tap(taps, k, 0) * gi[0] + neus_fd_tap(taps, k, 1) * gi[1] +
                                  neus_fd_tap(taps, k, 2) * gi[2]) + lap;
            }
        }
        const int enc_params = m->enc_xyz.ops->has_params;
        mlp_backward(&m->sdf, p, sb, rows_sdf, ya, enc_params ? ws->grad_u : NULL);
        if (enc_params) m->enc_xyz.ops->backward(&m->enc_xyz, p, pts, sb->act[0], rows_sdf, ws->grad_u, NULL, 1);
    }
}

int neus_forward(const neus_model *m, param_set *p, const neus_render_options *o, const neus_ray_batch *rays,
                 const neus_normalizers *norm, int backward, neus_workspace *ws, neus_loss *loss)
{
    if (check_options(o) || check_batch(rays, ws)) return -1;
    if (o->gradient != ws->gradient) return err_set("neus: the workspace was made for the other SDF gradient mode");
    if (o->n_samples + o->n_importance != ws->n_per_ray)
        return err_set("neus: %d + %d samples per ray for a workspace of %d", o->n_samples, o->n_importance,
                       ws->n_per_ray);
    if (rays->n != ws->n_rays) return err_set("neus: %d rays, but neus_sample sampled %d", rays->n, ws->n_rays);
    const int with_loss = rays->rgb != NULL;
    if (with_loss && o->mask_weight > 0 && !rays->mask) return err_set("neus: mask_weight > 0 needs the rays' masks");
    if (backward && !with_loss) return err_set("neus: a backward pass needs targets");
    if (with_loss && check_targets(o, rays)) return -1;
    neus_pass ps = {.m = m, .p = p, .o = o, .rays = rays, .backward = backward, .with_loss = with_loss, .ws = ws};
    ps.inv_s = (real)neus_inv_s(m, p);
    for (int c = 0; c < 3; ++c) ps.bg[c] = (real)o->background_rgb[c];
    if (norm) ps.norm = *norm;
    else if (with_loss) neus_count(o, rays, ws, &ps.norm);
    for (int r0 = 0; r0 < rays->n; r0 += ws->chunk_rays)
        chunk_run(&ps, r0, rays->n - r0 < ws->chunk_rays ? rays->n - r0 : ws->chunk_rays);
    if (backward) {
        /* s = clip(exp(10 v)): ds/dv = 10 s inside the clip */
        double s = exp(10.0 * (double)*params_values(p, m->variance));
        if (s >= 1e-6 && s <= 1e6) *params_grads(p, m->variance) += (real)(ps.grad_s * 10.0 * s);
    }
    if (loss) {
        *loss = ps.sums;
        loss->total = o->color_weight * ps.sums.color + o->eikonal_weight * ps.sums.eikonal +
                      o->mask_weight * ps.sums.mask + o->normal_weight * ps.sums.normal;
        loss->inv_s = ps.inv_s;
    }
    return 0;
}

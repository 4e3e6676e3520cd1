/* sft.h — ϕ-SfT: a deforming cloth from a monocular video and a template
 * (sft module), by fitting the cloth simulator's parameters Φ through the
 * soft rasterizer to the images (Kairanda et al. 2022).
 *
 * Sequence (ϕ-SfT's layout; REFERENCE.md §1)
 *   <root>/rgbs/rgb_%03d.png, masks/mask_%03d.png, optional
 *   blurred_masks/blurred_mask_%03d.png, optional ground truth
 *   point_clouds/point_cloud_%03d.obj and surfaces/%04d_00.obj,
 *   templates/<one>.obj (+ an optional .png texture when the OBJ has UVs) and
 *   camera.json.  Frames are counted from rgb_000 up to the first missing
 *   file; every frame needs its mask; every image must have the camera's size
 *   (or be the full-resolution image of a downscaled camera).  A downscale by
 *   s block-averages images and masks and divides the intrinsics by s.
 *   Region of interest: the images are cropped to the union of the masks'
 *   bounding boxes over the loaded frames, widened by a margin, and the
 *   camera's principal point moves with the crop.  What lies outside is
 *   kept as per-frame sums (|I − background| and the blurred mask), so the
 *   losses stay the means over the whole frame: exact as long as the
 *   rendered surface and its blurred silhouette stay inside the crop (the
 *   margin is there for that).
 *
 * Template (sft_template)
 *   The template is frame 0's surface in world (camera) coordinates.
 *   Material space: its UVs × uv_scale when it has one UV per vertex
 *   (uv_scale 0: the scale that makes the material area equal the template's
 *   area), else the template flattened onto its least-squares plane (the
 *   in-plane coordinates of its vertices, scaled to the template's area).
 *   Colours: the template's texture through its UVs when both exist, else
 *   frame 0 projected onto the template (ϕ-SfT): vertex i gets the UV of its
 *   own pixel in frame 0, and frame 0's image is the texture.
 *
 * Parameters Φ (one param_set; learning-rate group per tensor)
 *   physics: density (1, kg/m²), stretching (6×4) and bending (3×5) in
 *     ϕ-SfT's scaled units (× CLOTH_PHISFT_*_TO_SI gives SI), wind (3, m/s)
 *     and, unless disabled, correctives (frames × n × 3, m/s, added to the
 *     velocities as v += c[f]/substeps at every substep of frame f).
 *   offsets ("Only F"): per-frame vertex offsets (frames × n × 3, m) from the
 *     template; no simulation.
 *
 * Objective over the active frames 0 … w−1 (window w)
 *   L = 1/w Σ_f [ mean|I_f − Î_f| + λ·mean|G_σ * S_f − G_σ * Ŝ_f| ]
 *   Î_f the soft-rasterised image of the surface of frame f, Ŝ_f its soft
 *   silhouette, I_f and S_f the input frame and mask (or blurred mask), G_σ a
 *   Gaussian blur of σ pixels; the means run over pixels (× 3 channels for
 *   the image).  The soft silhouette carries geometric gradient.
 *
 * Functions return 0 or −1 with err_set() naming the file or the problem.
 */
#ifndef PHIVE_SFT_H
#define PHIVE_SFT_H

#include <stdint.h>

#include "phive/cloth.h"
#include "phive/job.h"
#include "phive/mesh.h"
#include "phive/opt.h"
#include "phive/params.h"
#include "phive/raster.h"
#include "phive/real.h"

/* ---- sequence ------------------------------------------------------------------- */

typedef struct {
    int downscale;            /* ≥ 1 */
    int first_frame, frames;  /* frames 0: every frame there is from first_frame */
    const char *template_name;/* an OBJ in templates/ (NULL or "": the only one) */
    int crop;                 /* cut the region of interest out of the frames */
    int crop_margin;          /* pixels at the working size around the masks' union */
    double background[3];     /* the renderer's background (the outside sums use it) */
} sft_load_options;

typedef struct {
    char root[4096];
    int first_frame, frames, width, height, downscale;
    int full_width, full_height; /* the frame before cropping (working size) */
    int crop_x, crop_y;       /* the crop's top-left corner in the full frame */
    double *outside_rgb;      /* frames: Σ over pixels outside the crop of Σ_c |I − background| */
    double *outside_mask;     /* frames: Σ outside the crop of the blurred mask (0 without blurred_masks/) */
    raster_camera camera;     /* at the working (downscaled, cropped) size */
    real *rgb;                /* frames × H × W × 3 in [0, 1] */
    real *mask;               /* frames × H × W in [0, 1] */
    real *blurred_mask;       /* frames × H × W from blurred_masks/, or NULL */
    mesh template_mesh;       /* the templates/ OBJ as read (quads fan-triangulated) */
    char template_path[4096];
    char texture_path[4096];  /* "" without a texture */
    int has_surfaces, has_point_clouds; /* ground truth for every loaded frame */
} sft_sequence;

/* Load frames o->first_frame … o->first_frame + o->frames − 1 of the sequence at root. */
int sft_sequence_load(sft_sequence *s, const char *root, const sft_load_options *o);
void sft_sequence_free(sft_sequence *s);

/* ---- template ------------------------------------------------------------------- */

typedef struct {
    cloth_mesh cloth;         /* triangles + material space */
    double *x0;               /* n × 3: the template's positions (frame 0) */
    /* colours for the rasterizer */
    int n_uvs;
    real *uvs;                /* n_uvs × 2 */
    int32_t *faces;           /* n_faces × 3 (the cloth's triangles) */
    int32_t *face_uvs;        /* n_faces × 3 */
    int tex_width, tex_height;
    real *texture;            /* tex_height × tex_width × 3 */
    int projected_texture;    /* 1: colours projected from frame 0 */
    int flattened;            /* 1: material space from the least-squares plane */
} sft_template;

/* uv_scale: metres per UV unit, 0 = match the template's area. */
int sft_template_prepare(sft_template *t, const sft_sequence *s, double uv_scale);
void sft_template_free(sft_template *t);
/* The raster mesh of the template's colours at positions (n × 3, real). */
void sft_template_raster_mesh(const sft_template *t, const real *positions, raster_mesh *out);

/* ---- objective ---------------------------------------------------------------------- */

typedef struct {
    raster_settings raster;
    double silhouette_weight; /* λ */
    double blur_sigma_px;     /* σ at the working resolution */
    int threads;
} sft_loss_settings;

/* Per-frame work buffers (one rendered frame, its blurred images and gradients). */
typedef struct sft_frame_work sft_frame_work;
int sft_frame_work_create(sft_frame_work **out, const sft_sequence *s);
void sft_frame_work_free(sft_frame_work *w);

/* Loss terms of frame f at positions (n × 3, real): rgb = mean|I − Î|, sil = mean|G*S − G*Ŝ| over
 * the full frame (the crop plus the sequence's outside sums).
 * With grad_positions (n × 3, accumulated) the gradient of scale·(rgb + λ·sil) is added. */
int sft_frame_loss(sft_frame_work *w, const sft_loss_settings *ls, const sft_sequence *s, const sft_template *t,
                   int f, const real *positions, double scale, real *grad_positions, double *rgb, double *sil);
/* Fill s->blurred_mask with G_σ * mask when the sequence brought no blurred masks. */
int sft_frame_blur_masks(sft_sequence *s, double sigma_px);
/* Seconds spent in sft_frame_loss's forward (render + losses) and backward, and the frames whose
 * soft silhouette reached an inner edge of the crop (the losses are then no longer exact), since
 * the last call. */
void sft_frame_work_times(sft_frame_work *w, double *forward_s, double *backward_s, int *edge_frames);
/* The last sft_frame_loss's rendered frame (previews). */
const raster_frame *sft_frame_work_frame(const sft_frame_work *w);

/* ---- the problem of one sft job ------------------------------------------------------- */

/* Φ's tensors; each is its own learning-rate group (the enum value). */
enum sft_tensor { T_DENSITY, T_STRETCHING, T_BENDING, T_WIND, T_CORRECTIVES, T_OFFSETS, N_TENSORS };

typedef struct {
    sft_sequence seq;
    sft_template tpl;
    sft_loss_settings loss;
    sft_frame_work *work;
    int physics, F, n;      /* deformation model, frames, vertices */
    /* physics */
    cloth_settings settings;
    cloth_sim *sim;
    cloth_params cp, cg;    /* Φ in the simulator's units, and its gradient */
    int *handles;
    double *grad_x;         /* F × n × 3 */
    /* Φ */
    param_set params;
    adam opt;
    int tensor[N_TENSORS];  /* index in params, −1 when absent */
    double lr[N_TENSORS];
    /* per iteration */
    real *positions, *grad_positions; /* F × n × 3 */
    double *frame_rgb, *frame_sil;    /* F */
    int edge_frames;                  /* evaluated frames reaching the crop's edge (summed over the group) */
} sft_problem;

/* One evaluation: the loss terms over the window and the time of each stage. */
typedef struct {
    double loss, rgb, sil;               /* means over the window */
    /* this rank's seconds: rollout, render + losses, raster backward, simulator adjoint */
    double simulate_s, render_s, render_backward_s, adjoint_s;
} sft_step;

/* Load the sequence and template, build Φ (initial material from model.material) and the
 * simulator from the sft job's validated config (the keys of sft_job.schema). */
int sft_problem_setup(sft_problem *s, const job_ctx *ctx);
void sft_problem_free(sft_problem *s);
/* Every Φ group's learning rate × scale (the NaN guard lowers it). */
int sft_problem_set_lr_scale(sft_problem *s, double scale);
/* L over frames 0 … w−1 at the current Φ (positions, frame_rgb, frame_sil filled for them)
 * and, with grads, ∂L/∂Φ in params.grads, summed over the group (collective over the group:
 * frames are split round-robin across its ranks).  Returns 0, −1 (an error), or SFT_DIVERGED
 * when the simulation or its adjoint failed numerically (a linear solve diverged, a non-finite
 * state): Φ left the region where the simulator works, err_message() says how. */
#define SFT_DIVERGED 1
int sft_problem_evaluate(sft_problem *s, const job_ctx *ctx, int w, int grads, sft_step *r);

/* The `sft` job type (src/sft/sft_job.c, whose schema lists the keys). */
extern const job_type sft_job;

#endif

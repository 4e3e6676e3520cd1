/* neus.h — the NeuS model and volume renderer, forward and backward (nsr module).
 *
 * Wang et al., "NeuS" (NeurIPS 2021), as Totoro97/NeuS implements it
 * (models/fields.py, models/renderer.py, exp_runner.py, confs/wmask.conf).
 * The per-ray math is in kernels/nsr_render.h (shared with a CUDA launcher);
 * this module batches it: the samples of all rays of a chunk are the rows of
 * the MLPs' GEMMs.
 *
 * ENCODINGS (nsr_encoding: an ops table, for positional encoding now and
 * HIVE's feature volumes and Instant-NGP's hash grid).  An encoding maps x ∈ R³ to
 * n_out(e) values per row.  Positional encoding with F frequencies
 * (NeuS get_embedder, include_input, log sampling):
 *   PE(x) = [x, sin(2⁰x), cos(2⁰x), sin(2¹x), cos(2¹x), …, sin(2^{F−1}x), cos(2^{F−1}x)]
 * (each term a 3-vector): 3 + 6F values; F = 0 is the identity.
 *
 * MODEL (neus_model; defaults of confs/wmask.conf).
 *   SDF network: u = PE6(x) (39), an MLP of sdf_hidden_layers (8) × sdf_width
 *     (256) Softplus(β = 100) layers, skip at layer 4 (input [h, u]/√2; the
 *     layer before has 256 − 39 outputs), output 1 + sdf_features (257):
 *     y = [f(x), feature(x)].  Geometric initialisation to the sphere of
 *     radius init_radius (0.5): see mlp_init_geometric (first and skip layers
 *     zero on the PE terms, as SDFNetwork with multires > 0).
 *   Colour network ("idr" mode): input [x, PE4(d) (27), n, feature] (3 + 27 +
 *     3 + 256 = 289) with n = ∇f(x) as it is (not normalised, as NeuS), then
 *     color_hidden_layers (4) × color_width (256) ReLU layers, 3 outputs,
 *     c = sigmoid(·).  PyTorch's default nn.Linear initialisation.
 *   Both MLPs weight-normalised (W = g·v/‖v‖ per row; see mlp.h).
 *   Variance: one scalar v ("variance", v₀ = 0.3), s = inv_s = clip(exp(10v), 1e-6, 1e6).
 *   Every tensor in one param_set: "sdf.w<i>/g<i>/b<i>", "color.w<i>/g<i>/b<i>", "variance".
 *
 * SAMPLING (neus_sample; not differentiated, as NeuS's torch.no_grad block).
 *   Per ray (o, unit d, near, far), n = n_samples (64) coarse samples
 *     z_i = near + (far − near)·i/(n − 1) [+ (u − ½)·2/n with perturb, one u per ray].
 *   Then up_sample_steps (4) rounds of m = n_importance/steps (16) samples, round i at
 *   fixed s_i = 64·2^i, on the current sorted z_0..z_{N−1} with their SDF values f_j:
 *     section j = [z_j, z_{j+1}]: mid_f = (f_j + f_{j+1})/2,
 *       cos_j = (f_{j+1} − f_j)/(z_{j+1} − z_j + 1e-5),
 *       c_j = clip(min(cos_{j−1}, cos_j), −1e3, 0)·inside_j  (cos_{−1} = 0;
 *         inside_j = |o + z_j d| < 1 or |o + z_{j+1} d| < 1),
 *       prev/next = mid_f ∓ c_j·(z_{j+1} − z_j)/2,
 *       α_j = (σ(prev·s_i) − σ(next·s_i) + 1e-5)/(σ(prev·s_i) + 1e-5),
 *       w_j = α_j Π_{k<j}(1 − α_k + 1e-7);
 *     inverse-CDF (NeRF sample_pdf): pdf = (w + 1e-5)/Σ(w + 1e-5), cdf = [0, cumsum(pdf)],
 *       u_k = (k + ½)/m (deterministic, NeuS) or seeded uniforms (sorted),
 *       j = #{cdf ≤ u_k}, lo = max(j − 1, 0), hi = min(j, N − 1),
 *       den = cdf_hi − cdf_lo (1 when < 1e-5), z = z_lo + (u_k − cdf_lo)/den·(z_hi − z_lo);
 *     merge the new samples into the sorted list; evaluate f at them (not after the last round).
 *   Result: S = n_samples + n_importance (128) sorted z per ray (ws->z, rays × S).
 *   Random numbers (rng, stream): ray b of the batch has global index g = first + b; the
 *   perturbation is u[0] of rng_uniform2_at(rng, stream, 256·g), the importance uniforms
 *   of round i are entries i·m … i·m + m − 1 of the sequence rng_uniform2_at(rng, stream,
 *   256·g + 1 + k/2)[k % 2], sorted; so a batch split across ranks by `first` draws what
 *   one rank would.
 *
 * RENDERING (neus_forward, per ray; kernels/nsr_render.h).
 *   Sections: δ_i = z_{i+1} − z_i, δ_{S−1} = 2/n_samples (NeuS sample_dist),
 *   samples at the midpoints t_i = z_i + δ_i/2, p_i = o + t_i d.
 *   f_i, feature_i, g_i = ∇f(p_i), colour c_i = colour net(p_i, d, g_i, feature_i).
 *   Discrete unbiased α (render_core), with cos annealing ratio r ∈ [0, 1]:
 *     cos_i = d·g_i,  ι_i = −(relu(½ − ½cos_i)(1 − r) + relu(−cos_i)·r),
 *     e⁻_i = f_i − ι_i δ_i/2,  e⁺_i = f_i + ι_i δ_i/2,
 *     P_i = σ(s e⁻_i),  N_i = σ(s e⁺_i),
 *     α_i = clip((P_i − N_i + 1e-5)/(P_i + 1e-5), 0, 1),
 *     T_0 = 1, T_{i+1} = T_i (1 − α_i + 1e-7),  w_i = α_i T_i,
 *     C = Σ_i w_i c_i [+ bg·(1 − W)],  W = Σ_i w_i (weight sum).
 *   The gradient g_i feeds both α and the colour network.  The SDF gradient is
 *     analytic (default): mlp_input_gradient through the encoding (J_encᵀ ∂f/∂u), its
 *       backward mlp_backward_second with Ḡ = J_enc ḡ (encoding jvp); or
 *     finite differences: 4 tetrahedral taps v ∈ {(1,−1,−1), (−1,−1,1), (−1,1,−1), (1,1,1)},
 *       g = Σ_v v f(p + εv)/(4ε), its backward f̄(p + εv) = v·ḡ/(4ε); the taps are rows of
 *       the same GEMMs (5 rows per sample).  The 4-tap estimate is only first-order:
 *       g ≈ ∇f + ε (H_yz, H_xz, H_xy) (H the Hessian of f), unlike 6-tap central differences.
 *   or 6 central taps ±εe_x, ±εe_y, ±εe_z (NEUS_GRADIENT_FD6, 7 rows per sample), g_c =
 *     (f(p + εe_c) − f(p − εe_c))/(2ε), second-order, which also give the Laplacian
 *     Δf = (Σ_taps f − 6 f(p))/ε² (HIVE's normal smoothness below).  The FD modes are the ones
 *     for encodings with parameters (feature volumes): ε is then one cell of the finest volume.
 *   Default: analytic.  It is exact (agrees with a 6-tap central difference in double to
 *   4e-7 of |∇f|), where the tetrahedral FD is off by ~2e-2 (ε = 1e-3) / ~2.5e-3 (ε = 1e-4,
 *   the float optimum; 1e-2 at 1e-5) of |∇f| on a perturbed default network, and it is
 *   ~2.5–3× faster per step (6 GEMM passes of the SDF MLP per sample against 15).  The
 *   FD step (fd_eps, default 1e-4) is what a grid encoding would set to its finest cell.
 *
 * BACKGROUND (NeRF++, NeuS's render_core_outside; scenes without masks).  With a model built
 *   with cfg.background and n_outside = M > 0 (NeuS womask: 32):
 *   outside samples z'_k = far / flip(lin)_k + 1/n_samples, lin = linspace(1e-3, 1 − 1/(M + 1), M)
 *     (with perturb: each lin_k uniform in its cell between the midpoints, uniforms k of the
 *     ray's stream after the importance ones);
 *   on the joined list [z (S), z' (M)] (in order: z' > far): sections δ (last 2/n_samples),
 *     midpoints p, q = [p/r, 1/r] with r = max(‖p‖, 1); [σ, feature] = bg(PE10(q)) (8 ReLU
 *     layers of 256, skip at layer 5), colour = sigmoid(bg_color([feature, PE4(d)])) (one ReLU
 *     layer of 128), α_bg = 1 − exp(−softplus(σ)·δ);
 *   fg sample i with |p_i| ≥ 1 takes α_bg,i and the background colour instead of its own
 *     (NeuS: α·inside + α_bg·(1 − inside)), then the M outside samples follow; T and w run over
 *     all S + M, C = Σ w c, W = Σ w (all samples, as NeuS's weight_sum).  ws->weights keeps the
 *     first S.  The background networks are evaluated only where they show (fg samples outside
 *     the sphere, the outside samples): NeuS also evaluates them inside, where they are
 *     multiplied by 0.  Deviation from NeuS's NeRF: its skip concatenates [u, h] after layer 4
 *     unscaled with full width; here the skip is the SDF network's ([h, u]/√2 into layer 5, layer
 *     4 narrower by the input width), a reparametrisation of the same kind of network.
 *
 * LOSSES (exp_runner.py; terms summed over the rays of this call, divided by the
 * batch's normalisers so that sums over ranks give the batch loss).
 *   m = (mask > 0.5) when mask_weight > 0, else 1;  M = Σ m (+ 1e-5).
 *   colour  L_c = Σ_rays Σ_rgb |C − Ĉ|·m / (M + 1e-5)
 *   Eikonal L_e = Σ_{samples with |p_i| < eikonal_radius} (‖g_i‖ − 1)² / (K + 1e-5),
 *            K the number of such samples (NeuS: relax_inside_sphere, radius 1.2)
 *   mask    L_m = mean_rays BCE(clip(W, 1e-3, 1 − 1e-3), m) = −[m log W + (1 − m) log(1 − W)]
 *   normal  L_n = mean_rays |Σ_i w_i Δf_i| (HIVE eq. 8–10 with ∇²sdf the Laplacian; FD6 only;
 *           the fg samples' weights)
 *   total   L = color_weight·L_c + eikonal_weight·L_e + mask_weight·L_m + normal_weight·L_n
 *           (1, 0.1, 0.1, 0).
 *   Derivatives follow PyTorch's: sign(0) = 0, relu'(0) = 0, clip passes the gradient
 *   where lo ≤ x ≤ hi.  The backward accumulates (+=) dL/dθ into p->grads, including
 *   dL/dv = dL/ds · 10 s (when s is not clipped).
 *
 * CHUNKS.  neus_forward runs forward and (optionally) backward one chunk of
 * chunk_rays rays at a time (rows = chunk_rays × S in every GEMM), so only a
 * chunk's activations are held: the loss normalisers are known from the samples
 * before the networks run.  (So the op is one fused forward+backward call rather
 * than a forward/backward pair: a separate backward would have to keep the
 * activations of the whole batch, ~2.5 GB at default sizes, against ~0.3 GB for
 * 64-ray chunks.)  Per-batch outputs (colour, weights, …) stay in the workspace.
 * Element-wise loops use mlp_elementwise_threads() threads (see mlp.h: launch with
 * OMP_WAIT_POLICY=passive to let them use every core without starving OpenBLAS).
 *
 * Batch splits: give each rank its rays with `first` = their global index, call
 * neus_sample, neus_count, all-reduce the three normalisers, then neus_forward with
 * them; the losses and gradients then sum over ranks to the batch's.
 */
#ifndef PHIVE_NEUS_H
#define PHIVE_NEUS_H

#include <stdint.h>

#include "phive/mlp.h"
#include "phive/opt.h"
#include "phive/params.h"
#include "phive/real.h"
#include "phive/rng.h"

/* ---- encodings ------------------------------------------------------------------------------ */

typedef struct nsr_encoding nsr_encoding;

typedef struct {
    const char *name;
    int (*n_out)(const nsr_encoding *e);
    /* out (rows × n_out) of x (rows × n_in) */
    void (*forward)(const nsr_encoding *e, const param_set *p, const real *x, int rows, real *out);
    /* From dL/d(out): grad_x (rows × n_in, overwritten; NULL: not wanted) = J(x)ᵀ·grad_out and, when
     * accumulate_params, dL/dθ += into p->grads (encodings with parameters).  `out` is forward's output. */
    void (*backward)(const nsr_encoding *e, param_set *p, const real *x, const real *out, int rows,
                     const real *grad_out, real *grad_x, int accumulate_params);
    /* dout = J(x)·dx (rows × n_out); NULL when not available (then only FD SDF gradients). */
    void (*jvp)(const nsr_encoding *e, const param_set *p, const real *x, const real *out, int rows, const real *dx,
                real *dout);
    /* Parameters: 0 for positional encoding.  The renderer passes dL/du to `backward` with
     * accumulate_params in its FD modes; an analytic SDF gradient through an encoding with
     * parameters would also need the θ-derivative of J(x; θ)ᵀG, which no encoding provides. */
    int has_params;
} nsr_encoding_ops;

struct nsr_encoding {
    const nsr_encoding_ops *ops;
    int n_in;    /* input dimension (3 for points and directions; 4 for NeRF++'s inverted sphere) */
    int n_freqs; /* positional encoding */
    void *state; /* encodings with parameters */
};

/* Positional encoding of n_in-vectors with n_freqs ≥ 0 frequencies (0: identity). */
int nsr_encoding_positional(nsr_encoding *e, int n_in, int n_freqs);

/* HIVE's hierarchical dense feature volumes (src/nsr/volume_encoding.c, kernels/nsr_volume.h):
 * out = [PE(x) (pe_freqs frequencies, 0: x itself), V_0(x), …, V_{M−1}(x)], V_m(x) the trilinear
 * lookup of volume m (resolution r_m, C channels, over [−1, 1]³, align_corners = True; points
 * clamped to the box).  Resolutions r_m = round(r_min·(r_max/r_min)^{m/(M−1)}) (2…256 for M = 8:
 * 2, 4, …, 256).  Tensor "vol<m>" [r_m³ × C] in learning-rate group lr_group_of(r_m): first_group
 * + 0 for r ≤ 16, + 1 for r ≤ 64, + 2 above (HIVE: 1e-2, 1e-3, 1e-4).  The point x always leads
 * the output, so the SDF network's geometric initialisation sees it (the volumes' first-layer
 * weights start at zero and their values at N(0, init_std²)).  Lookups and the backward scatter
 * go through the rows in Morton order of their points (cache reuse); each volume's scatter is one
 * thread's, so dL/dV sums in the same order for any thread count.  No jvp: the SDF gradient
 * through volumes is finite differences. */
#define NSR_MAX_VOLUMES 12
#define NSR_MAX_SPARSE 4
typedef struct {
    int n_volumes;     /* M: 8 */
    int res_min, res_max; /* 2, 256 */
    int channels;      /* C: 4 */
    int pe_freqs;      /* PE frequencies of the leading x: 6 (0: x only) */
    double init_std;   /* 0.02 */
    int n_sparse;      /* sparse high-resolution volumes after the dense ones (below): 0 */
    int sparse_res[NSR_MAX_SPARSE]; /* their resolutions (HIVE: 512, 1024) */
    int index_res;     /* bricks a side of their index tables (HIVE's 256³ index table): 256 */
    double sparse_init_std; /* activated rows: the shared row + N(0, sparse_init_std²); 0 (below) */
} nsr_volume_config;
void nsr_volume_config_default(nsr_volume_config *c);
/* Declare the volumes in p (before params_allocate); e owns its state (nsr_encoding_free). */
int nsr_encoding_volumes(nsr_encoding *e, param_set *p, const nsr_volume_config *c, int first_group);

/* HIVE's sparse high-resolution volumes (§III-D), the last n_sparse grids of the volume encoding:
 * out = [PE(x), V_0(x), …, V_{M−1}(x), S_0(x), …, S_{K−1}(x)].  Sparse volume k of resolution R
 * has an index table over index_res³ bricks of B = R/index_res vertices a side (a power of two:
 * 2 at 512, 4 at 1024) and a table "sparse<k>" of n·B³ + 1 rows × C: the n active bricks' vertices
 * and HIVE's shared last row, which every vertex of an inactive brick reads (index −1).  It starts
 * with no active brick (one row, N(0, init_std²), learning-rate band of r > 64): a learnt constant
 * input of the SDF network until its stage activates the bricks around the surface
 * (nsr_sparse_mark, nsr_sparse_activate).  Its TV runs over the voxels whose four vertices (own,
 * +x, +y, +z) lie in active bricks. */
int nsr_sparse_count(const nsr_encoding *e);
typedef struct {
    int res, brick_side, bricks_per_axis;
    long active;       /* active bricks */
    size_t rows;       /* table rows: active·B³ + 1 */
    double bytes;      /* its memory in training: the table, its gradients and Adam's two moments, and the index */
} nsr_sparse_info;
int nsr_sparse_info_of(const nsr_encoding *e, int k, nsr_sparse_info *info);
/* Mark (mark[b] = 1, b = (b_z·n + b_y)·n + b_x) the bricks of sparse volume k that hold a vertex of a
 * cell within `band` of the SDF's zero level: the cells of the G³ grid over [−1, 1]³ whose corner values
 * change sign (marching cubes' surface), dilated by band.  sdf holds the grid's z-slices z0..z1
 * (G²·(z1 − z0 + 1) values, x fastest), so ranks can mark their own slabs and sum the marks. */
void nsr_sparse_mark(const nsr_encoding *e, int k, const float *sdf, int G, int z0, int z1, double band, real *mark);
/* Activate the n bricks (ascending ids) of sparse volume k, which has none yet: its table grows to
 * n·B³ + 1 rows (adam_reshape; opt may be NULL), the shared row moves last with its moments, the new
 * rows start at the shared row + N(0, sparse_init_std²) (Philox stream of k of rng, so every rank
 * draws the same; rng NULL: the shared row itself, for values a checkpoint then overwrites) with zero
 * moments.  With sparse_init_std = 0 (the default) activation leaves the SDF as it was, so a stage
 * boundary does not throw the surface back; the bricks learn their detail from there.
 * Errors leave the model as it was. */
int nsr_sparse_activate(nsr_encoding *e, param_set *p, adam *opt, int k, const long *bricks, long n, const rng_t *rng);
/* The active bricks of sparse volume k (ascending; NULL when none): what a checkpoint stores. */
const long *nsr_sparse_bricks(const nsr_encoding *e, int k);

/* Instant-NGP's multiresolution hash grid (the NeuS+Hash baseline; same file and kernels):
 * out = [PE(x), H_0(x), …, H_{L−1}(x)], level l a grid of resolution N_l = ⌊N_min·b^l⌋,
 * b = (N_max/N_min)^{1/(L−1)}, over [−1, 1]³ (align_corners, clamped), its F features in a
 * table of min(N_l³, 2^log2_table) rows: dense while the level fits, hashed beyond (see
 * kernels/nsr_volume.h).  Tensors "hash<l>" in one learning-rate group; U(−init, init). */
#define NSR_MAX_HASH_LEVELS 24
typedef struct {
    int levels;        /* L: 16 */
    int features;      /* F: 2 */
    int log2_table;    /* 19 */
    int res_min, res_max; /* N_min, N_max: 16, 2048 */
    int pe_freqs;      /* PE frequencies of the leading x: 0 (x only) */
    double init_scale; /* 1e-4 */
} nsr_hash_config;
void nsr_hash_config_default(nsr_hash_config *c);
int nsr_encoding_hash(nsr_encoding *e, param_set *p, const nsr_hash_config *c, int group);

/* After params_allocate: volumes ~ N(0, init_std²), hash tables ~ U(−init_scale, init_scale). */
void nsr_encoding_init(const nsr_encoding *e, param_set *p, rng_t *rng);
void nsr_encoding_free(nsr_encoding *e);
/* HIVE's total variation (eq. 7), each volume's term the mean over its (r − 1)³ voxels of
 * sqrt(Σ_channels Σ_axes (V_{+axis} − V)²) (a mean, so the weight does not grow with r³), summed over
 * the volumes; with accumulate, weight · dTV/dV is added to p->grads.  0 for other encodings. */
double nsr_volume_tv(const nsr_encoding *e, param_set *p, double weight, int accumulate);
/* Resolution and tensor of grid m of the volumes or hash grid; 0 and −1 outside. */
int nsr_volume_resolution(const nsr_encoding *e, int m);
int nsr_volume_tensor(const nsr_encoding *e, int m);
static inline int nsr_encoding_n_out(const nsr_encoding *e) { return e->ops->n_out(e); }

/* ---- model ---------------------------------------------------------------------------------- */

enum { NSR_ENCODING_POSITIONAL = 0, NSR_ENCODING_VOLUMES = 1, NSR_ENCODING_HASH = 2 };

typedef struct {
    int sdf_hidden_layers; /* 8 */
    int sdf_width;         /* 256 */
    int sdf_skip;          /* 4; 0: none */
    double sdf_beta;       /* 100 */
    int sdf_features;      /* 256 */
    int pe_xyz;            /* 6 */
    double init_radius;    /* 0.5 */
    int color_hidden_layers; /* 4 */
    int color_width;       /* 256 */
    int pe_dir;            /* 4 */
    int weight_norm;       /* 1 */
    double variance_init;  /* 0.3 */
    /* SDF input encoding: NSR_ENCODING_POSITIONAL (pe_xyz), _VOLUMES (HIVE; their PE is
     * volumes.pe_freqs) or _HASH (Instant-NGP; hash.pe_freqs) */
    int encoding;
    nsr_volume_config volumes;
    nsr_hash_config hash;
    /* NeRF++ background (NeuS's NeRF, confs/womask.conf): 0 = none */
    int background;
    int bg_layers;         /* 8 ReLU layers ... */
    int bg_width;          /* ... of 256 units; the view layer has bg_width / 2 */
    int bg_skip;           /* 5: layer 5 takes [h, u]/√2 (NeRF: skips = [4], concatenated after layer 4) */
    int pe_bg;             /* 10 frequencies of the 4-D inverted-sphere point */
    int pe_bg_dir;         /* 4 frequencies of the view direction */
} neus_model_config;

void neus_model_config_default(neus_model_config *c);

typedef struct {
    neus_model_config cfg;
    nsr_encoding enc_xyz, enc_dir;
    mlp sdf, color;
    int variance;          /* tensor index of the scalar v */
    int n_enc_xyz, n_enc_dir, color_in, sdf_out;
    /* background (cfg.background): density [σ, feature] = bg(PE(q)), rgb logits = bg_color([feature, PE(d)]) */
    nsr_encoding enc_bg, enc_bg_dir;
    mlp bg, bg_color;
    int n_enc_bg, n_enc_bg_dir, bg_out, bg_color_in;
} neus_model;

/* Declare every tensor in p (before params_allocate): the networks in lr_group, feature volumes
 * in lr_group + 1 … + 3 (by resolution, see nsr_encoding_volumes) or the hash tables in
 * lr_group + 1, the variance in lr_group + 4. */
int neus_model_declare(neus_model *m, param_set *p, const neus_model_config *c, int lr_group);
/* After params_allocate: geometric SDF init, default colour init, v = variance_init, volumes. */
void neus_model_init(const neus_model *m, param_set *p, rng_t *rng);
/* The encodings' state (feature volumes); the parameters live in the param_set. */
void neus_model_free(neus_model *m);
/* s = clip(exp(10 v), 1e-6, 1e6). */
double neus_inv_s(const neus_model *m, const param_set *p);

/* ---- rendering ------------------------------------------------------------------------------ */

typedef enum { NEUS_GRADIENT_ANALYTIC = 0, NEUS_GRADIENT_FD = 1, NEUS_GRADIENT_FD6 = 2 } neus_gradient_mode;

typedef struct {
    int n_samples;          /* 64 coarse samples */
    int n_importance;       /* 64 importance samples ... */
    int up_sample_steps;    /* ... in 4 rounds (n_importance % steps == 0) */
    int perturb;            /* 1: jitter the coarse samples (training) */
    int det_importance;     /* 1: NeuS's deterministic u; 0: seeded uniforms */
    double cos_anneal_ratio;/* r ∈ [0, 1] (NeuS: min(1, iteration/anneal_end)); default 1 */
    neus_gradient_mode gradient;
    double fd_eps;          /* tetrahedral FD step (1e-4) */
    int background;         /* 1: add background_rgb·(1 − W) */
    double background_rgb[3];
    int n_outside;          /* NeRF++ background samples beyond the sphere (needs model.background); 0: none */
    double eikonal_radius;  /* 1.2 */
    double color_weight, eikonal_weight, mask_weight; /* 1, 0.1, 0.1 */
    double normal_weight;   /* HIVE's normal smoothness (needs NEUS_GRADIENT_FD6); 0 */
    int chunk_rays;         /* rays per forward/backward chunk */
} neus_render_options;

void neus_render_options_default(neus_render_options *o);

/* A batch of rays (structure of arrays, as nsr_rays). */
typedef struct {
    int n;
    const real *origin, *direction; /* n × 3 (unit directions) */
    const real *near, *far;         /* n */
    const real *rgb, *mask;         /* targets n × 3, n; NULL: render only (no loss) */
    uint64_t first;                 /* global index of ray 0 (random streams) */
} neus_ray_batch;

/* Loss normalisers of the whole batch (sum them over ranks for a split batch). */
typedef struct {
    double rays;        /* rays in the batch */
    double mask_sum;    /* Σ m */
    double eikonal_count; /* samples with |p| < eikonal_radius */
} neus_normalizers;

typedef struct {
    double total, color, eikonal, mask, normal; /* this call's share of the batch loss (unweighted terms) */
    double sq_error;                    /* Σ m (C − Ĉ)² over rays and channels (PSNR) */
    double inv_s;
} neus_loss;

typedef struct {
    int max_rays, chunk_rays, n_per_ray; /* S = n_samples + n_importance */
    int n_rays;                          /* of the last neus_sample */
    neus_gradient_mode gradient;
    /* per batch (max_rays × …) */
    real *z;        /* × S: sorted sample positions (neus_sample) */
    real *mid;      /* × S: midpoints t_i */
    real *sdf;      /* × S */
    real *gradient_out; /* × S × 3: ∇f at the midpoints */
    real *weights;  /* × S */
    real *color;    /* × 3 */
    real *weight_sum; /* × 1 */
    real *laplacian;  /* × S: Δf at the midpoints (NEUS_GRADIENT_FD6 only, else NULL) */
    /* internal */
    mlp_buffers sdf_buf, color_buf;
    real *z_tmp, *sdf_cur, *sdf_tmp, *z_new, *sdf_new, *scratch, *pts;
    real *enc_dir, *grad_u, *grad_g_u, *sdf_adj, *grad_adj, *rgb, *rgb_adj, *color_in_adj;
    real *alpha, *trans, *inside, *dists;
    real *sample_gw, *lap_adj; /* FD6: dL/dw and dL/dΔf of the chunk's samples (normal smoothness) */
    double *ray_grad_s;
    /* background (n_outside > 0): per batch z_out (max_rays × n_outside); per chunk the T = S + n_outside
     * composited samples (all_*) and the rows the background networks evaluate (bg_*) */
    int n_outside, bg_rows;
    real *z_out, *all_gw, *all_alpha, *all_rgb, *all_trans, *all_w, *all_galpha, *all_gc;
    real *bg_q, *bg_dist, *bg_alpha, *bg_dalpha, *bg_rgb, *bg_enc_dir, *bg_adj, *bg_cin_adj, *bg_rgb_adj;
    int *bg_row; /* chunk × T: row of the background networks, −1 for samples inside the sphere */
    int *bg_ray; /* per row: its ray in the chunk */
    mlp_buffers bg_buf, bg_color_buf;
} neus_workspace;

int neus_workspace_alloc(neus_workspace *ws, const neus_model *m, const neus_render_options *o, int max_rays);
void neus_workspace_free(neus_workspace *ws, const neus_model *m);

/* Sample positions of every ray of the batch into ws->z (rays × S).  rng may be NULL when
 * perturb = 0 and det_importance = 1.  Returns 0, or -1 (err_set) on bad input. */
int neus_sample(const neus_model *m, const param_set *p, const neus_render_options *o, const neus_ray_batch *rays,
                const rng_t *rng, uint64_t stream, neus_workspace *ws);

/* This batch's normalisers, from ws->z (after neus_sample). */
void neus_count(const neus_render_options *o, const neus_ray_batch *rays, const neus_workspace *ws,
                neus_normalizers *norm);

/* Render the rays at ws->z: ws->color, weight_sum, weights, mid, sdf, gradient_out.  With
 * targets (rays->rgb, and rays->mask when mask_weight > 0) the loss goes into *loss (may be
 * NULL) with the normalisers `norm` (NULL: this batch's own); with `backward` its gradient is
 * accumulated into p->grads.  Returns 0 or -1 (err_set). */
int neus_forward(const neus_model *m, param_set *p, const neus_render_options *o, const neus_ray_batch *rays,
                 const neus_normalizers *norm, int backward, neus_workspace *ws, neus_loss *loss);

#endif

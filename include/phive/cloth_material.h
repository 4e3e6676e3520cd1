/* cloth_material.h — the Wang, Ramamoorthi & O'Brien 2011 data-driven cloth
 * material, evaluated as ARCSim 0.3.1 does (cloth module).
 *
 * This header is the data and file contract; the per-element math lives in
 * kernels/cloth_material.h (PHIVE_HD static inline, shared with CUDA), which
 * includes this header.  Summary of both:
 *
 * Material files (ARCSim's format, read as is)
 *   A JSON object with exactly these keys:
 *     "density"    number > 0, kg/m²
 *     "stretching" 6 rows × 4 numbers (k0..k3), N/m
 *     "bending"    3 rows × 5 numbers, N·m (the double values: ARCSim's files
 *                  hold e.g. 6.4196457e-05, not the ×1e-6 mantissas)
 *     "units"      optional string: "si" (the default, what ARCSim's files
 *                  are) or "phisft" (ϕ-SfT's scaled parameters:
 *                  stretching_ϕ = stretching / 1e3, bending_ϕ = bending · 1e4,
 *                  density unchanged); the loaded struct is always SI.
 *   Any other key, a duplicate key, a wrong shape, a non-number or a
 *   non-finite number (1e999) is an error whose message names the file and
 *   the key; malformed JSON names the file and the line.
 *   ARCSim's multipliers apply on load: density × density_mult × thicken,
 *   stretching × stretching_mult × thicken, bending × bending_mult × thicken
 *   (all > 0; since k = 2·max(·, 0) is positively homogeneous, scaling the
 *   rows is the same as ARCSim's scaling of its sample table).
 *
 * Stretching table (rows, as in the file): d[level][angle] with
 *   d[0][a] = row 0 for every angle a, d[1][a] = row 1 + a (angles 0°, 22.5°,
 *   45°, 67.5°, 90° between the largest principal strain and the material u
 *   axis).  k depends only on the 24 row entries, and k_i only on column i,
 *   so derivatives w.r.t. the table are 6 × 4 arrays: dk_drows[r][i] =
 *   ∂k_i/∂rows[r][i].
 * Stretching stiffness at a Green strain G = (G00, G11, G01), 2 ways:
 *   DIRECT (ARCSim's evaluate_stretching_sample): C = 2G + I, λ² its largest
 *     eigenvalue with eigenvector V, α = |atan2(V_y, V_x)|/π·8 clamped to
 *     [0, 4 − 1e-6], s = 6(λ − 1) clamped to [0, 1 − 1e-6],
 *     k = 2·max(bilinear(d, s, α), 0) per component.
 *   TABLE (ARCSim's stretching_stiffness): k precomputed DIRECT on the
 *     30³ grid G00, G11 = −0.25 + i/30, G01 = j/30 (i, j = 0..29), looked up
 *     trilinearly at (G00, G11, |G01|) with each grid coordinate clamped to
 *     [0, 29 − 1e-5] as ARCSim does.  Also linear in the rows (through the
 *     ReLU masks of the 8 samples used).
 * Bending stiffness of one side of an edge (ARCSim's bending_stiffness):
 *   b = |atan2(du_y, du_x)|·4/π folded into [0, 2] (du the edge in material
 *   space; samples 0°, 45°, 90°), v = 0.1·θ·l/(A0 + A1) (curvature samples
 *   K = 0, 10, 20, 30, 40 m⁻¹), ke = max(bilinear(bending, b, v), 0); the
 *   edge's ke is the minimum over its two faces.  How v is limited is a
 *   choice (enum cloth_curvature_mode): REFERENCE.md's clamp to [0, 4]
 *   (default), |v| clamped to 4 (ARCSim forks), or ARCSim 0.3.1's literal
 *   code, which clamps only above and extrapolates linearly for θ < 0.
 *
 * Units: SI throughout (kg/m², N/m, N·m, metres, radians).  The cloth module
 * computes in double in every build, as ARCSim does: the implicit solve and
 * its adjoint need it (real = float is for the networks and the rasterizer).
 * Functions return
 * 0 or −1 with err_set().
 */
#ifndef PHIVE_CLOTH_MATERIAL_H
#define PHIVE_CLOTH_MATERIAL_H


#define CLOTH_STRETCH_ROWS 6
#define CLOTH_STRETCH_K 4
#define CLOTH_STRETCH_ENTRIES (CLOTH_STRETCH_ROWS * CLOTH_STRETCH_K)
#define CLOTH_BEND_ANGLES 3
#define CLOTH_BEND_CURVATURES 5
#define CLOTH_BEND_ENTRIES (CLOTH_BEND_ANGLES * CLOTH_BEND_CURVATURES)
/* ARCSim's sample table: 30 samples per axis. */
#define CLOTH_TABLE_N 30
#define CLOTH_TABLE_SIZE (CLOTH_TABLE_N * CLOTH_TABLE_N * CLOTH_TABLE_N)
/* ϕ-SfT's parameters times these are SI: stretching_SI = stretching_ϕ · 1e3, bending_SI = bending_ϕ · 1e-4. */
#define CLOTH_PHISFT_STRETCHING_TO_SI 1e3
#define CLOTH_PHISFT_BENDING_TO_SI 1e-4

enum cloth_stretch_mode {
    CLOTH_STRETCH_DIRECT = 0, /* evaluate the bilinear model at G */
    CLOTH_STRETCH_TABLE = 1,  /* ARCSim: trilinear lookup in the 30³ table */
};

enum cloth_curvature_mode {
    CLOTH_CURVATURE_CLAMP = 0,  /* v clamped to [0, 4] (REFERENCE.md) */
    CLOTH_CURVATURE_ABS = 1,    /* |v| clamped to 4: fold direction does not matter */
    CLOTH_CURVATURE_ARCSIM = 2, /* ARCSim 0.3.1 dde.cpp: v ≤ 4 only, θ < 0 extrapolates */
};

typedef struct {
    double density;                                     /* kg/m² */
    double stretching[CLOTH_STRETCH_ROWS][CLOTH_STRETCH_K]; /* N/m, the file's rows */
    double bending[CLOTH_BEND_ANGLES][CLOTH_BEND_CURVATURES]; /* N·m, [0°, 45°, 90°][K = 0..40 m⁻¹] */
} cloth_material;

typedef struct {
    double density_mult, stretching_mult, bending_mult; /* ARCSim's per-quantity multipliers */
    double thicken;                                     /* multiplies all three */
} cloth_material_options;

/* ARCSim's 30³ table, index (i·30 + j)·30 + l for G00 = −0.25 + i/30, G11 = −0.25 + j/30,
 * G01 = l/30.  Besides k it keeps each sample's (clamped) strain level and angle
 * coordinate, from which the derivative of a lookup w.r.t. the rows follows. */
typedef struct {
    double k[CLOTH_TABLE_SIZE][CLOTH_STRETCH_K];
    double strain[CLOTH_TABLE_SIZE]; /* s in [0, 1 − 1e-6] */
    double angle[CLOTH_TABLE_SIZE];  /* α in [0, 4 − 1e-6] */
} cloth_stretch_table;

#ifdef __cplusplus
extern "C" {
#endif

/* All multipliers 1. */
void cloth_material_options_init(cloth_material_options *o);

/* Read an ARCSim material file (see above); opt may be NULL (all multipliers 1).
 * On failure *mat is left unchanged. */
int cloth_material_load(const char *path, const cloth_material_options *opt, cloth_material *mat);

/* Write mat as an ARCSim material file in SI units (no "units" key), atomically;
 * numbers are printed so that they read back to the same values. */
int cloth_material_save(const char *path, const cloth_material *mat);

/* Fill t from the stretching rows (24 entries, row-major); −1 when a row entry is not finite. */
int cloth_stretch_table_build(cloth_stretch_table *t, const double *rows);

#ifdef __cplusplus
}
#endif

#endif

/* nsr.h — neural surface jobs (nsr module).
 *
 * `sdf` job: a small MLP (NeuS positional encoding, Softplus, geometric
 * initialisation) trained with Adam to fit an analytic signed distance
 * function from points sampled in [-1, 1]³ and near the surface.  The
 * point batch of each iteration is split across the ranks of the job's
 * group and the gradient all-reduced, so the result does not depend on the
 * rank count beyond float rounding.  It is the seed of the NeuS code.
 *
 * `neus` job: neus_job.c (see its header); its model setup and mesh export
 * are shared with `phive mesh` (below).
 */
#ifndef PHIVE_NSR_H
#define PHIVE_NSR_H

#include "phive/job.h"
#include "phive/mesh.h"
#include "phive/neus.h"
#include "phive/nsr_data.h"

extern const job_type nsr_sdf_job;
extern const job_type nsr_neus_job; /* NeuS on a NeuS-layout data set (src/nsr/neus_job.c) */

/* ---- the neus job's pieces that `phive mesh` shares ------------------------------------------ */

/* neus_job.c: the model a validated neus config describes (model.* keys): declares its tensors
 * in p (lr group 0) and allocates them; initialise or load the values next. */
int neus_job_model(const config *cfg, neus_model *m, param_set *p);
/* neus_job.c: shape the sparse volumes of a model declared by neus_job_model as checkpoint ckpt has
 * them (its /structure/sparse<k>_bricks), before ckpt_load reads their values; opt may be NULL. */
int neus_restore_structure(neus_model *m, param_set *p, adam *opt, const char *ckpt);
/* The neus job's data set (data.*: data.root, inside data.collection when relative, into root;
 * data.format, data.region, data.cameras, data.downscale), every view; cameras_only: no image
 * decoded. */
int neus_load_data(const config *cfg, int cameras_only, char *root, size_t root_size, nsr_dataset *ds);

/* neus_mesh.c: the SDF on z-slices z0..z1 (inclusive) of the res³ grid over [lo, hi]³ of the
 * normalised frame (x fastest; grid holds res²·(z1 − z0 + 1) values). */
int neus_sdf_grid(const neus_model *m, const param_set *p, int res, double lo, double hi, int z0, int z1, float *grid);
/* neus_mesh.c: marching cubes of the SDF's zero level on a res³ grid (res ≥ 2, x fastest) over
 * [−1.01, 1.01]³ of the normalised frame, mapped to world by scale_mat0 (row-major 4×4,
 * nsr_dataset.scale_mat0, NeuS's mesh export); normals point outward (increasing SDF). */
int neus_sdf_mesh(const neus_model *m, const param_set *p, int res, const double scale_mat0[16], mesh *out);

/* The model of a neus job's checkpoint (<job_dir>/ckpt.h5, read only): its effective config (the
 * caller frees it), the model and parameters rebuilt from it, the checkpoint's iteration.  The
 * checkpoint's config is the one used, so a schema that gained keys since still reads it.  Errors
 * name the file: a missing directory or checkpoint, a job of another type, a truncated checkpoint
 * or tensors of other shapes; nothing is left allocated then. */
int neus_checkpoint_model(const char *job_dir, config **cfg, neus_model *m, param_set *p, long *iteration);

/* `phive mesh`: the surface of a neus job from its checkpoint, without touching the job.
 *   job_dir     a job directory with ckpt.h5 (complete or interrupted);
 *   resolution  grid size, 0: the job's mesh.resolution;
 *   out         the PLY/OBJ file to write, NULL: <job_dir>/mesh_<resolution>.ply;
 *   force       1: replace an existing `out` (else refusing is an error).
 * The config comes from the checkpoint (or, for older checkpoints, result.h5), data.root is read
 * for scale_mat_0 only (relative paths from the current directory, as the job had them), the
 * parameters from ckpt.h5 read-only (neus_checkpoint_model).  Errors name the file: a missing
 * directory or checkpoint, a job of another type, a truncated checkpoint. */
int neus_mesh_export(const char *job_dir, int resolution, const char *out, int force);

typedef enum { SHAPE_SPHERE, SHAPE_TORUS, SHAPE_BOX, SHAPE_CAPSULE } analytic_shape;

int analytic_shape_parse(const char *name, analytic_shape *shape);
/* Exact signed distance (negative inside) of the shape of scale `size` at p. */
double analytic_sdf(analytic_shape shape, double size, const double p[3]);

#endif

/* eval.h — evaluation protocols as job types (eval module).
 *
 * Each protocol is a job type, so `phive run`, `phive eval` and sweeps run
 * it like any other job, frames or meshes split across the group's ranks,
 * with the metrics in result.h5 and the summary tables.
 *
 * eval_sft: ϕ-SfT.  Real sequences: per frame, sample the reconstructed
 *   mesh (area-weighted, seeded; as many points as the ground-truth cloud by
 *   default) and compute Chamfer as PyTorch3D defines it (squared distances,
 *   mean per direction, summed), reported ×1e4, optionally after rigid ICP.
 *   Synthetic sequences (eval.mode = synthetic): per frame, Procrustes with
 *   scale onto the ground-truth mesh (same vertices), e_3D = ‖X_gt − X‖_F /
 *   ‖X_gt‖_F and the mean angle between vertex normals in degrees.
 * eval_dtu: the DTU protocol (DTUeval-python): 0.2 mm sampling and thinning,
 *   box crop, ObsMask, ground plane, 20 mm cut; accuracy, completeness and
 *   their mean in mm, from the official ground-truth files.
 * eval_epfl: the EPFL protocol (NeuralWarp): 1e6 mesh samples, each
 *   direction's mean distance under 0.8, full scene or the bbox.npy center.
 * eval_bmvs: BlendedMVS (VolSDF practice): largest component above an
 *   optional ground plane, 1e5 samples on each mesh, Chamfer-L1 (no cut).
 */
#ifndef PHIVE_EVAL_H
#define PHIVE_EVAL_H

#include <stdint.h>

#include "phive/job.h"
#include "phive/mesh.h"

extern const job_type eval_sft_job;
extern const job_type eval_dtu_job;
extern const job_type eval_epfl_job;
extern const job_type eval_bmvs_job;
extern const job_type eval_clean_job; /* mesh cleaning by object masks (phive/mesh_clean.h) */

/* One frame of the ϕ-SfT protocol (the paths name the meshes in messages).
 * Real: samples points on the reconstruction (samples 0: as many as the truth has; seeded),
 * optional rigid ICP onto the truth, Chamfer (PyTorch3D) ×1e4.
 * Synthetic: Procrustes with scale onto the truth (same vertices), then metrics[0] = e_3D =
 * ‖X_gt − X‖_F / ‖X_gt‖_F and metrics[1] = the mean angle between vertex normals (degrees). */
int eval_sft_chamfer_frame(const mesh *reconstruction, const mesh *truth, size_t samples, uint64_t seed, int icp,
                           const char *mesh_path, const char *gt_path, double *chamfer_x1e4);
int eval_sft_synthetic_frame(const mesh *reconstruction, const mesh *truth, const char *mesh_path, double metrics[2]);

/* The DTU protocol (steps 1–4 of eval_dtu) on a mesh in memory, against the official layout under
 * gt_root for `scan`; mesh_name names the mesh in messages.  With error_map, that PLY is written:
 * the mesh coloured by distance to the STL points (error_map_max mm at the top of the scale).
 * The neus job calls it at its end when eval.dtu_gt is set. */
typedef struct {
    double density, patch, max_dist; /* 0.2, 60, 20 mm */
    uint64_t seed;                   /* of the thinning's shuffle */
    const char *error_map;           /* NULL: none */
    double error_map_max;            /* 5 mm */
} eval_dtu_options;
typedef struct {
    double accuracy, completeness, overall; /* mm */
    size_t sampled, thinned, in_box;        /* points */
} eval_dtu_result;
void eval_dtu_options_default(eval_dtu_options *o);
int eval_dtu_mesh(const mesh *reconstruction, const char *mesh_name, const char *gt_root, long scan,
                  const eval_dtu_options *o, eval_dtu_result *out);
/* 0 when the scan's three ground-truth files under gt_root are readable; else -1 naming the first that is not. */
int eval_dtu_truth_readable(const char *gt_root, long scan);

/* Expand a printf pattern with exactly one integer conversion ("%03d") for frame f. */
int eval_frame_path(const char *dir, const char *pattern, long frame, char *out, size_t size);

#endif

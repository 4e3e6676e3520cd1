/* mesh_clean.h — NeuS-style cleaning of a reconstruction by object masks (eval module).
 *
 * DTU evaluations clean meshes before measuring, and papers differ in how
 * (REFERENCE.md "Evaluation protocols"): every vertex is projected into every
 * view of a NeuS-format scene, the view's object mask is dilated by a disc,
 * and a rule decides from the views' votes which vertices stay; optionally
 * only the largest connected component is kept afterwards.
 *   NeuS        dilation 50 px, rule all, largest component
 *   NeuralWarp  dilation 12 px
 *   2DGS line   dilation 24 px
 *
 * The scene directory holds `cameras_sphere.npz` with world_mat_0 ...
 * world_mat_{n-1} (the views are those consecutive indices from 0) and
 * `mask/%03d.png` for each view (1-4 channels, 8 or 16 bits; a pixel is
 * foreground when its first channel is above half range, > 127 for 8 bits).
 *
 * Frame: vertex X projects with P = world_mat_i[:3, :4] as
 * (u, v, w) = P·[X, 1], pixel (round(u/w), round(v/w)) (round half to even,
 * as np.round; integer pixel centres, as NeuS's rays).  The mesh must
 * therefore be in the world frame of world_mat, for DTU millimetres, the
 * frame the DTU protocol measures in.  A mesh in NeuS's normalised
 * (unit-sphere) frame must first be mapped by scale_mat_0 (x_world =
 * scale_mat_0 · [x, 1]), as NeuS's own mesh export does.
 *
 * Votes.  In view i a vertex votes "in" when it projects inside the image and
 * the dilated mask is set there, "out" when it projects inside the image and
 * the dilated mask is clear, and not at all when it projects outside the
 * image or lies on or behind the camera's plane (w <= 0): such a view cannot
 * see it, so it neither condemns nor saves it (the NeuS-lineage
 * clean_mesh.py pads its masks with ones for the outside-image case; for
 * w <= 0 its division would mirror the point into the image, an accident not
 * copied here).
 *   all  keep a vertex with no "out" vote (NeuS); a vertex no view sees is kept
 *   any  keep a vertex with at least one "in" vote; a vertex no view sees is removed
 * Then the rejected vertices and every face using one are removed
 * (mesh_remove_vertices_by_mask: kept vertices that lose all their faces stay,
 * as in that script), and with keep_largest only the largest component
 * (mesh_keep_largest_component: by face count) is kept.
 *
 * Dilation is OpenCV's cv::dilate with getStructuringElement(MORPH_ELLIPSE,
 * (2r+1, 2r+1)), the kernel the papers' scripts use: row dy of the disc
 * spans |dx| <= round(sqrt(r² − dy²)).  It runs once per view, as a 1-D
 * distance transform along each row followed by a vectorised scan of the
 * 2r+1 rows of the disc; views are processed in parallel (OpenMP).
 */
#ifndef PHIVE_MESH_CLEAN_H
#define PHIVE_MESH_CLEAN_H

#include <stddef.h>
#include <stdint.h>

#include "phive/config.h"
#include "phive/job.h"
#include "phive/mesh.h"
#include "phive/metrics.h"

typedef enum { MESH_CLEAN_RULE_ALL = 0, MESH_CLEAN_RULE_ANY = 1 } mesh_clean_rule;

typedef struct {
    const char *scene;    /* NeuS scene directory (cameras_sphere.npz, mask/%03d.png) */
    int dilation;         /* disc radius in pixels, >= 0 (NeuS 50, NeuralWarp 12, 2DGS 24) */
    mesh_clean_rule rule; /* all (NeuS) or any */
    int keep_largest;     /* then keep only the largest connected component */
} mesh_clean_options;

typedef struct {
    size_t views;                               /* views read from the scene */
    size_t vertices_before, faces_before;       /* the input mesh */
    size_t vertices_unseen;                     /* vertices no view could see (no vote at all) */
    size_t vertices_rejected, faces_rejected;   /* removed by the mask rule */
    size_t faces_removed_largest;               /* removed by keep_largest */
    size_t vertices_after, faces_after;         /* the cleaned mesh */
    double seconds;                             /* wall time of the whole cleaning */
} mesh_clean_stats;

/* Dilate a binary mask (nonzero = set; width × height, row-major) by the
 * OpenCV ellipse of radius `radius` (above); out may not alias in.  Pixels
 * outside the image count as clear, as cv::dilate's default border does. */
int mask_dilate_disc(const uint8_t *in, int width, int height, int radius, uint8_t *out);

typedef struct {
    size_t views;  /* views read from the scene */
    size_t unseen; /* points no view could see */
} mesh_clean_votes;

/* The mask rule alone: keep[v] (n flags) for the points xyz (n × 3) in the
 * world frame; votes (may be NULL) receives the counts above. */
int mesh_clean_vertex_mask(const float *xyz, size_t n, const mesh_clean_options *opt, uint8_t *keep,
                           mesh_clean_votes *votes);

/* Clean m in place (rule, then largest component when asked).  stats may be
 * NULL.  Fails, naming the frame as the likely cause, when no vertex
 * survives the rule or no vertex projects into any view (a mesh in the
 * normalised frame, say).  On failure m is unchanged unless the failure is
 * running out of memory part way through the edits. */
int mesh_clean_by_masks(mesh *m, const mesh_clean_options *opt, mesh_clean_stats *stats);

/* ---- configuration ---------------------------------------------------------
 * The keys, for a job type's schema (an evaluation protocol, or the eval_clean
 * job below); default_mode is "none" where cleaning is opt-in:
 *   eval.clean           none | masks
 *   eval.clean_scene     NeuS scene directory (required when clean = masks)
 *   eval.clean_dilation  disc radius in px (50)
 *   eval.clean_rule      all | any (all)
 *   eval.clean_largest   keep the largest component afterwards (true)
 * The settings reach result.h5 with the rest of the effective config. */
#define MESH_CLEAN_SCHEMA(default_mode)                                                                       \
    {"eval.clean", CFG_CHOICE, default_mode, 0, -1, "none|masks", "clean the mesh by the scene's object masks"}, \
    {"eval.clean_scene", CFG_STRING, "", 0, -1, NULL, "NeuS scene dir (cameras_sphere.npz, mask/) to clean by"},  \
    {"eval.clean_dilation", CFG_INT, "50", 0, 2000, NULL, "mask dilation, px (NeuS 50, NeuralWarp 12, 2DGS 24)"},  \
    {"eval.clean_rule", CFG_CHOICE, "all", 0, -1, "all|any", "keep vertices in the dilated mask of all/any views"}, \
    {"eval.clean_largest", CFG_BOOL, "true", 0, -1, NULL, "after the masks, keep the largest connected component"}

/* Clean m as the eval.clean* keys say (nothing when eval.clean = none; an empty eval.clean_scene
 * means default_scene, which may be NULL), and
 * record what happened in `final` (may be NULL) as clean_views,
 * clean_vertices_rejected, clean_faces_rejected, clean_vertices_unseen,
 * clean_faces_removed_largest, clean_vertices, clean_faces, clean_seconds.
 * Fails (naming eval.clean_scene) when clean = masks and no scene is given. */
int mesh_clean_configured(mesh *m, const config *cfg, const char *default_scene, metrics *final);

/* The `eval_clean` job: eval.mesh cleaned as the eval.clean* keys say
 * (clean = masks by default), written to <job dir>/cleaned.ply, with the
 * statistics above as final metrics. */
extern const job_type eval_clean_job;

#endif

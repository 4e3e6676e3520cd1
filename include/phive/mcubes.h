/* mcubes.h — marching cubes on a dense scalar grid (geom module).
 *
 * Input: float values on an nx × ny × nz grid, x fastest:
 *     value(i, j, k) = values[i + nx·(j + ny·k)].
 * Output: a triangle mesh of the iso-surface {value = iso}, with one vertex per
 * crossed grid edge (shared by every triangle that uses that edge), placed by
 * linear interpolation along the edge, then mapped to world coordinates by a
 * caller-given affine map of grid indices (origin + spacing, or a 4×4 matrix).
 *
 * Topology.  The 256 corner configurations are triangulated from a table that
 * this module derives itself from one rule per cube face: on a face whose
 * corners alternate below/above (the ambiguous face), the asymptotic decider
 * (sign of the bilinear interpolant at the face's saddle) says whether the
 * two below-iso corners are connected across the face.  The decision depends
 * only on the four values of that face, so both cubes sharing it cut it the
 * same way: surfaces that do not reach the grid boundary come out closed,
 * every mesh edge shared by exactly two triangles, no cracks.  No vertex is
 * added inside a cube, so the vertex set is exactly the crossed grid edges
 * (the same set scikit-image's Lewiner marching cubes puts on grid edges).
 * Tunnels through a cube's interior follow from the face decisions alone (no
 * MC33-style interior test).  A corner is "below" when value < iso; values
 * equal to iso count as above.  The negated field with the opposite
 * orientation flag gives exactly the same mesh (ties at iso aside).
 *
 * Orientation.  Triangles are wound counter-clockwise seen from the side the
 * normal points to (right-hand rule), in world space (a mirroring affine map
 * is accounted for).  MCUBES_TOWARD_INCREASING makes normals point to
 * increasing field values: outward for a signed distance function (negative
 * inside).  NeuS and PyMCubes extract −SDF (positive inside, like a density or
 * an occupancy): use MCUBES_TOWARD_DECREASING there to get outward normals.
 * Closed surfaces oriented outward have positive signed volume.
 *
 * Memory.  The grid is processed in slabs of z-layers in parallel (OpenMP);
 * each thread keeps only two slices of corner flags and edge-vertex index
 * maps (24 bytes per xy grid point), so the extra memory is a few MB per
 * thread plus the output mesh.  The output (vertex and triangle order) does
 * not depend on the number of threads or the slab size.
 */
#ifndef PHIVE_MCUBES_H
#define PHIVE_MCUBES_H

#include <stddef.h>

#include "phive/mesh.h"

typedef enum {
    MCUBES_TOWARD_INCREASING = 0, /* normals point to increasing values: outward for an SDF */
    MCUBES_TOWARD_DECREASING = 1, /* normals point to decreasing values: outward for −SDF / density */
} mcubes_orientation;

typedef struct {
    double iso;                     /* iso value (default 0) */
    mcubes_orientation orientation; /* default MCUBES_TOWARD_INCREASING */
    /* Row-major 4×4 affine map: world = M · (i, j, k, 1)ᵀ with (i, j, k) in grid
     * index units (fractional along edges).  The last row must be 0 0 0 1 and
     * the 3×3 part invertible.  Default: identity (world = index). */
    double grid_to_world[16];
    int vertex_normals; /* 1: fill mesh.normals (unit, world space) from the field's
                           central-difference gradient, oriented like the faces */
    size_t slab_layers; /* z-layers per parallel work item; 0 = automatic */
} mcubes_options;

/* Defaults: iso 0, normals toward increasing values, identity map, no vertex normals. */
void mcubes_options_init(mcubes_options *o);
/* world = origin + spacing ⊙ (i, j, k): sets grid_to_world to that diagonal map. */
void mcubes_set_origin_spacing(mcubes_options *o, const double origin[3], const double spacing[3]);

/* Extract the iso-surface into *out (overwritten; empty on failure; free with
 * mesh_free).  Needs nx, ny, nz ≥ 2.  A grid without crossing gives a mesh
 * with no vertices and no faces.  Fails (err_set) on bad options, a non-finite
 * vertex (NaN or −Inf next to a crossing), more than 2³²−1 vertices, or out of
 * memory. */
int mcubes_extract(const float *values, size_t nx, size_t ny, size_t nz, const mcubes_options *o, mesh *out);

#endif

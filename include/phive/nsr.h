/* nsr.h — neural surface jobs (nsr module).
 *
 * `sdf` job: a small MLP (NeuS positional encoding, Softplus, geometric
 * initialisation) trained with Adam to fit an analytic signed distance
 * function from points sampled in [-1, 1]³ and near the surface.  The
 * point batch of each iteration is split across the ranks of the job's
 * group and the gradient all-reduced, so the result does not depend on the
 * rank count beyond float rounding.  It is the seed of the NeuS code.
 */
#ifndef PHIVE_NSR_H
#define PHIVE_NSR_H

#include "phive/job.h"

extern const job_type nsr_sdf_job;
extern const job_type nsr_neus_job; /* NeuS on a NeuS-layout data set (src/nsr/neus_job.c) */

typedef enum { SHAPE_SPHERE, SHAPE_TORUS, SHAPE_BOX, SHAPE_CAPSULE } analytic_shape;

int analytic_shape_parse(const char *name, analytic_shape *shape);
/* Exact signed distance (negative inside) of the shape of scale `size` at p. */
double analytic_sdf(analytic_shape shape, double size, const double p[3]);

#endif

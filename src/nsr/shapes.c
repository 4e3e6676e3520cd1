/* shapes.c — analytic signed distance functions (see nsr.h). */
#include <math.h>
#include <string.h>

#include "phive/errors.h"
#include "phive/nsr.h"

int analytic_shape_parse(const char *name, analytic_shape *shape)
{
    static const char *const names[] = {"sphere", "torus", "box", "capsule"};
    for (int i = 0; i < 4; ++i)
        if (!strcmp(name, names[i])) {
            *shape = (analytic_shape)i;
            return 0;
        }
    return err_set("unknown shape '%s' (sphere, torus, box, capsule)", name);
}

static double length3(double x, double y, double z) { return sqrt(x * x + y * y + z * z); }

double analytic_sdf(analytic_shape shape, double size, const double p[3])
{
    switch (shape) {
    case SHAPE_SPHERE:
        return length3(p[0], p[1], p[2]) - size;
    case SHAPE_TORUS: { /* ring in the xz plane, tube radius 0.4·size */
        double ring = sqrt(p[0] * p[0] + p[2] * p[2]) - size;
        return sqrt(ring * ring + p[1] * p[1]) - 0.4 * size;
    }
    case SHAPE_BOX: { /* half extents (1, 0.7, 0.5)·size, edges rounded by 0.05·size */
        double round = 0.05 * size;
        double q[3] = {fabs(p[0]) - (size - round), fabs(p[1]) - (0.7 * size - round),
                       fabs(p[2]) - (0.5 * size - round)};
        double outside = length3(fmax(q[0], 0), fmax(q[1], 0), fmax(q[2], 0));
        double inside = fmin(fmax(q[0], fmax(q[1], q[2])), 0.0);
        return outside + inside - round;
    }
    case SHAPE_CAPSULE: { /* segment ±0.6·size along x, radius 0.4·size */
        double x = fmax(-0.6 * size, fmin(0.6 * size, p[0]));
        return length3(p[0] - x, p[1], p[2]) - 0.4 * size;
    }
    }
    return NAN;
}

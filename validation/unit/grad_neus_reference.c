/* grad_neus_reference.c — the NeuS reference comparison of test_neus_reference.c with real = double.
 *
 * The same cases; in double phive and the float64 reference agree to rounding, so the
 * outputs, loss terms and parameter gradients are compared at 1e-9 relative and the
 * weight-carrying samples at 1e-9 absolute (instead of float32's 1e-4).
 */
#define NEUS_REFERENCE_ARGS "--tol 1e-9 --gtol 1e-9 --ztol 1e-9"
#include "test_neus_reference.c"

_Static_assert(sizeof(real) == sizeof(double), "grad_neus_reference is built with real = double");

/* real.h — the floating-point type of the CPU path.
 *
 * `real` is float by default; building with -DPHIVE_REAL_DOUBLE makes it
 * double, which the gradient checks use to compare against finite
 * differences.  Valid C and C++ (shared with nvcc through kernels/).
 */
#ifndef PHIVE_REAL_H
#define PHIVE_REAL_H

#ifdef PHIVE_REAL_DOUBLE
typedef double real;
#define PHIVE_REAL_NAME "double"
#else
typedef float real;
#define PHIVE_REAL_NAME "float"
#endif

#endif

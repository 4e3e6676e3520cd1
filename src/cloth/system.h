/* system.h — the simulator's linear systems on PETSc (cloth module, internal).
 *
 * A symmetric 3×3-block matrix with a fixed block sparsity (CSR over
 * blocks), whose values the simulator writes into its own array (3×3
 * blocks stored column-major: entry (r, c) of block k is
 * values[9k + 3c + r], so a block row is one column-oriented
 * MatSetValuesBlocked call) and hands to a PETSc matrix (MATSEQBAIJ by
 * default; -mat_type sbaij or aij through the options) at each solve, and
 * one KSP that solves every system of a rollout: the forward steps and the
 * adjoint steps.  PETSc options come from a string ("-ksp_type cg
 * -pc_type pbjacobi …") in a private options database, so simulators of
 * different jobs in one process do not share settings.
 */
#ifndef PHIVE_CLOTH_SYSTEM_H
#define PHIVE_CLOTH_SYSTEM_H

typedef struct cloth_system cloth_system;

/* n block rows; row_ptr (n + 1) and cols (row_ptr[n]) with columns sorted in each row.
 * options may be NULL (CG, point-block Jacobi, rtol 1e-10, atol 1e-50). */
int cloth_system_create(cloth_system **out, int n, const int *row_ptr, const int *cols, const char *options);
void cloth_system_free(cloth_system *s);
/* The block values, row_ptr[n] × 9 doubles. */
double *cloth_system_values(cloth_system *s);
/* Solve A x = b (3n each) with the current values (call after changing them); x starts at 0.
 * *iterations gets the KSP's count; a diverged solve is an error naming `what`. */
int cloth_system_solve(cloth_system *s, const double *b, double *x, int *iterations, const char *what);

#endif

/* system.c — see system.h. */
#include "system.h"

#include <petscksp.h>
#include <stdlib.h>
#include <string.h>

#include "phive/errors.h"

_Static_assert(sizeof(PetscScalar) == sizeof(double), "phive needs PETSc built with real double scalars");

struct cloth_system {
    int n;
    PetscInt *row_ptr, *cols;
    PetscScalar *values;
    Mat A;
    Vec b, x;
    KSP ksp;
    PetscOptions options;
};

#define PETSC_TRY(call, what)                                                \
    do {                                                                     \
        if ((call) != 0) {                                                   \
            cloth_system_free(s);                                            \
            return err_set("cloth solver: PETSc %s failed", what);           \
        }                                                                    \
    } while (0)

void cloth_system_free(cloth_system *s)
{
    if (!s) return;
    if (s->ksp) KSPDestroy(&s->ksp);
    if (s->A) MatDestroy(&s->A);
    if (s->b) VecDestroy(&s->b);
    if (s->x) VecDestroy(&s->x);
    if (s->options) PetscOptionsDestroy(&s->options);
    free(s->row_ptr), free(s->cols), free(s->values);
    free(s);
}

int cloth_system_create(cloth_system **out, int n, const int *row_ptr, const int *cols, const char *options)
{
    *out = NULL;
    cloth_system *s = calloc(1, sizeof *s);
    if (!s) return err_set("cloth solver: out of memory");
    s->n = n;
    const int nnzb = row_ptr[n];
    s->row_ptr = malloc((size_t)(n + 1) * sizeof(PetscInt));
    s->cols = malloc((size_t)(nnzb ? nnzb : 1) * sizeof(PetscInt));
    s->values = calloc(9 * (size_t)(nnzb ? nnzb : 1), sizeof(PetscScalar));
    PetscInt *nnz = malloc((size_t)(n ? n : 1) * sizeof(PetscInt)), *nnz_upper = malloc((size_t)(n ? n : 1) * sizeof(PetscInt));
    if (!s->row_ptr || !s->cols || !s->values || !nnz || !nnz_upper) {
        free(nnz), free(nnz_upper);
        cloth_system_free(s);
        return err_set("cloth solver: out of memory for %d blocks", nnzb);
    }
    for (int i = 0; i <= n; ++i) s->row_ptr[i] = row_ptr[i];
    for (int i = 0; i < n; ++i) {
        nnz[i] = row_ptr[i + 1] - row_ptr[i], nnz_upper[i] = 0;
        for (int k = row_ptr[i]; k < row_ptr[i + 1]; ++k) nnz_upper[i] += cols[k] >= i;
    }
    for (int k = 0; k < nnzb; ++k) s->cols[k] = cols[k];
    PetscErrorCode rc = PetscOptionsCreate(&s->options);
    if (!rc) rc = PetscOptionsInsertString(s->options, "-ksp_type cg -pc_type pbjacobi -ksp_rtol 1e-10 -ksp_atol 1e-50");
    if (rc || (options && options[0] && PetscOptionsInsertString(s->options, options))) {
        free(nnz), free(nnz_upper);
        cloth_system_free(s);
        return err_set("cloth solver: PETSc could not parse the options '%s'", options ? options : "");
    }
    /* MATSEQBAIJ unless the options say otherwise (-mat_type sbaij|aij …) */
    rc = MatCreate(PETSC_COMM_SELF, &s->A);
    if (!rc) rc = PetscObjectSetOptions((PetscObject)s->A, s->options);
    if (!rc) rc = MatSetSizes(s->A, 3 * n, 3 * n, 3 * n, 3 * n);
    if (!rc) rc = MatSetBlockSize(s->A, 3);
    if (!rc) rc = MatSetType(s->A, MATSEQBAIJ);
    if (!rc) rc = MatSetFromOptions(s->A);
    if (!rc) rc = MatXAIJSetPreallocation(s->A, 3, nnz, NULL, nnz_upper, NULL);
    free(nnz), free(nnz_upper);
    if (rc) {
        cloth_system_free(s);
        return err_set("cloth solver: PETSc could not create the %d × %d block matrix", n, n);
    }
    /* the value array is handed over one block row at a time, column-oriented (see system.h) */
    PETSC_TRY(MatSetOption(s->A, MAT_ROW_ORIENTED, PETSC_FALSE), "MatSetOption");
    PetscBool symmetric_storage;
    PETSC_TRY(PetscObjectTypeCompare((PetscObject)s->A, MATSEQSBAIJ, &symmetric_storage), "PetscObjectTypeCompare");
    if (symmetric_storage) PETSC_TRY(MatSetOption(s->A, MAT_IGNORE_LOWER_TRIANGULAR, PETSC_TRUE), "MatSetOption");
    PETSC_TRY(MatSetOption(s->A, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_TRUE), "MatSetOption");
    PETSC_TRY(MatSetOption(s->A, MAT_SYMMETRIC, PETSC_TRUE), "MatSetOption");
    PETSC_TRY(VecCreateSeq(PETSC_COMM_SELF, 3 * n, &s->b), "VecCreateSeq");
    PETSC_TRY(VecDuplicate(s->b, &s->x), "VecDuplicate");
    PETSC_TRY(KSPCreate(PETSC_COMM_SELF, &s->ksp), "KSPCreate");
    PETSC_TRY(PetscObjectSetOptions((PetscObject)s->ksp, s->options), "PetscObjectSetOptions");
    PC pc;
    PETSC_TRY(KSPGetPC(s->ksp, &pc), "KSPGetPC");
    PETSC_TRY(PetscObjectSetOptions((PetscObject)pc, s->options), "PetscObjectSetOptions");
    if (KSPSetFromOptions(s->ksp)) {
        cloth_system_free(s);
        return err_set("cloth solver: PETSc rejected the options '%s'", options ? options : "");
    }
    *out = s;
    return 0;
}

double *cloth_system_values(cloth_system *s) { return s->values; }

int cloth_system_solve(cloth_system *s, const double *b, double *x, int *iterations, const char *what)
{
    PetscScalar *p;
    if (VecGetArray(s->b, &p)) return err_set("%s: PETSc VecGetArray failed", what);
    for (int i = 0; i < 3 * s->n; ++i) p[i] = b[i];
    VecRestoreArray(s->b, &p);
    for (PetscInt i = 0; i < s->n; ++i) {
        const PetscInt start = s->row_ptr[i];
        if (MatSetValuesBlocked(s->A, 1, &i, s->row_ptr[i + 1] - start, s->cols + start, s->values + 9 * start,
                                INSERT_VALUES))
            return err_set("%s: PETSc could not take block row %d", what, (int)i);
    }
    if (MatAssemblyBegin(s->A, MAT_FINAL_ASSEMBLY) || MatAssemblyEnd(s->A, MAT_FINAL_ASSEMBLY) ||
        KSPSetOperators(s->ksp, s->A, s->A))
        return err_set("%s: PETSc could not update the operator", what);
    if (KSPSolve(s->ksp, s->b, s->x)) {
        /* Debian's PETSc 3.18 factors only block size 1 with CHOLMOD, and SBAIJ keeps the system's 3 */
        char solver[32] = "";
        PetscBool set = PETSC_FALSE;
        PetscOptionsGetString(s->options, NULL, "-pc_factor_mat_solver_type", solver, sizeof solver, &set);
        return err_set("%s: PETSc KSPSolve failed (PETSc's message above names the cause%s)", what,
                       set && !strcmp(solver, "cholmod") ? "; CHOLMOD needs -mat_type aij" : "");
    }
    KSPConvergedReason reason;
    PetscInt its;
    KSPGetConvergedReason(s->ksp, &reason);
    KSPGetIterationNumber(s->ksp, &its);
    if (iterations) *iterations = (int)its;
    if (reason < 0) return err_set("%s: the linear solve diverged (%s after %d iterations)", what, KSPConvergedReasons[reason], (int)its);
    const PetscScalar *q;
    if (VecGetArrayRead(s->x, &q)) return err_set("%s: PETSc VecGetArrayRead failed", what);
    for (int i = 0; i < 3 * s->n; ++i) x[i] = q[i];
    VecRestoreArrayRead(s->x, &q);
    return 0;
}

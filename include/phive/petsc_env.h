/* petsc_env.h — PETSc start-up and shutdown for the whole process.
 *
 * PETSc runs on PETSC_COMM_SELF per rank (ranks solve different jobs'
 * systems independently) and never sees phive's command line.  Kept in its
 * own module because petscsys.h wraps MPI calls in macros that the rest of
 * phive does not want.
 */
#ifndef PHIVE_PETSC_ENV_H
#define PHIVE_PETSC_ENV_H

#include <stddef.h>

int petsc_start(void);
void petsc_stop(void);
void petsc_version(char *out, size_t size);

#endif

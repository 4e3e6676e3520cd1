/* petsc_env.c — see petsc_env.h. */
#include "phive/petsc_env.h"

#include <petscsys.h>

#include "phive/errors.h"

int petsc_start(void)
{
    PETSC_COMM_WORLD = MPI_COMM_SELF;
    if (PetscInitialize(NULL, NULL, NULL, NULL)) return err_set("PetscInitialize failed");
    return 0;
}

void petsc_stop(void) { PetscFinalize(); }

void petsc_version(char *out, size_t size) { PetscGetVersion(out, size); }

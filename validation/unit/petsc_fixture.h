/* petsc_fixture.h — cmocka group setup/teardown for tests that run PETSc solves: MPI, then
 * PETSc on MPI_COMM_SELF, as bin/phive starts them. */
#ifndef PHIVE_TEST_PETSC_FIXTURE_H
#define PHIVE_TEST_PETSC_FIXTURE_H

#include <mpi.h>

#include "phive/petsc_env.h"

static int petsc_fixture_setup(void **state)
{
    (void)state;
    return MPI_Init(NULL, NULL) != MPI_SUCCESS || petsc_start() ? -1 : 0;
}

static int petsc_fixture_teardown(void **state)
{
    (void)state;
    petsc_stop();
    MPI_Finalize();
    return 0;
}

#endif

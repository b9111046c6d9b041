#include "CMPI.h"
#include <limits.h>
#include <stdlib.h>
#include <mpi.h>

int loft_mpi_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMI_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

int loft_mpi_init(int *rank, int *size) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if ((rc = MPI_Comm_rank(MPI_COMM_WORLD, rank)) != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int loft_mpi_finalize(void) { return MPI_Finalize(); }

void loft_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int loft_mpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

/// Pieces of at most 2^30 elements, so that every MPI count fits an int.
static const size_t piece = (size_t)1 << 30;

int loft_mpi_broadcast(void *buffer, size_t count, int root) {
    for (size_t start = 0; start < count; start += piece) {
        size_t n = count - start < piece ? count - start : piece;
        int rc = MPI_Bcast((char *)buffer + start, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
}

int loft_mpi_allgather_floats(const float *send, float *gathered, size_t count) {
    if (count > (size_t)INT_MAX) return MPI_ERR_COUNT;
    return MPI_Allgather(send, (int)count, MPI_FLOAT, gathered, (int)count, MPI_FLOAT, MPI_COMM_WORLD);
}

int loft_mpi_alltoall_floats(const float *send, float *received, size_t count) {
    if (count > (size_t)INT_MAX) return MPI_ERR_COUNT;
    return MPI_Alltoall(send, (int)count, MPI_FLOAT, received, (int)count, MPI_FLOAT, MPI_COMM_WORLD);
}

int loft_mpi_allreduce_max_doubles(double *values, size_t count) {
    if (count > (size_t)INT_MAX) return MPI_ERR_COUNT;
    return MPI_Allreduce(MPI_IN_PLACE, values, (int)count, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
}

int loft_mpi_allgather_doubles(const double *send, double *gathered, size_t count) {
    if (count > (size_t)INT_MAX) return MPI_ERR_COUNT;
    return MPI_Allgather(send, (int)count, MPI_DOUBLE, gathered, (int)count, MPI_DOUBLE, MPI_COMM_WORLD);
}

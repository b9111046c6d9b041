#ifndef LOFT_CMPI_H
#define LOFT_CMPI_H
#include <stddef.h>
#include <stdint.h>

/// Loft's whole use of MPI, behind plain C functions (OpenMPI's handles are macros Swift cannot
/// import). Every function returns 0 on success, else the MPI error code; counts may exceed
/// INT_MAX (the calls are split).

/// Whether this process was started by mpirun/mpiexec (OpenMPI, PMI or PMIx environment).
int loft_mpi_launched(void);
/// MPI_Init_thread (funneled: only the calling thread talks MPI); rank and world size.
int loft_mpi_init(int *rank, int *size);
/// MPI_Finalize.
int loft_mpi_finalize(void);
/// Ends every rank of the job (MPI_Abort on the world).
void loft_mpi_abort(int code);
/// MPI_Barrier on the world.
int loft_mpi_barrier(void);
/// Root's `count` bytes to every rank.
int loft_mpi_broadcast(void *buffer, size_t count, int root);
/// Every rank's `count` floats, concatenated in rank order into `gathered` (size · count floats).
int loft_mpi_allgather_floats(const float *send, float *gathered, size_t count);
/// Rank r sends `send[j·count ..< (j+1)·count]` to rank j and receives rank j's chunk r into
/// `received[j·count ..< (j+1)·count]`.
int loft_mpi_alltoall_floats(const float *send, float *received, size_t count);
/// In-place element-wise maximum of `count` doubles over the ranks (for timings and flags).
int loft_mpi_allreduce_max_doubles(double *values, size_t count);
/// Every rank's `count` doubles, concatenated in rank order into `gathered`.
int loft_mpi_allgather_doubles(const double *send, double *gathered, size_t count);

#endif

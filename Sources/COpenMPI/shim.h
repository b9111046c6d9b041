// Debian's OpenMPI (libopenmpi-dev): the headers and libmpi, found through pkg-config (ompi-c).
#include <mpi.h>

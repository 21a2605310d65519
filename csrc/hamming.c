#include "hamming.h"

fe_kernel *const fe_hamming_kernels[] = {NULL};

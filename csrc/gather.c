#include "gather.h"

fe_kernel *const fe_gather_kernels[] = {NULL};

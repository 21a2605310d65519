#include "ternary.h"

fe_kernel *const fe_ternary_kernels[] = {NULL};

#include "wordpiece.h"

fe_kernel *const fe_wordpiece_kernels[] = {NULL};

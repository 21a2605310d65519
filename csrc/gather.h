/* gather kernels: see the docstring of fastembed_core/_ref/gather.py for the contracts. */
#ifndef FE_GATHER_H
#define FE_GATHER_H
#include "cpu.h"

#endif

/* hamming kernels: see the docstring of fastembed_core/_ref/hamming.py for the contracts. */
#ifndef FE_HAMMING_H
#define FE_HAMMING_H
#include "cpu.h"

#endif

/* ternary kernels: see the docstring of fastembed_core/_ref/ternary.py for the contracts. */
#ifndef FE_TERNARY_H
#define FE_TERNARY_H
#include "cpu.h"

#endif

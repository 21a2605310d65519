/* wordpiece kernels: see the docstring of fastembed_core/_ref/wordpiece.py for the contracts. */
#ifndef FE_WORDPIECE_H
#define FE_WORDPIECE_H
#include "cpu.h"

#endif

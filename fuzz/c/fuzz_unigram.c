/* libFuzzer + ASan/UBSan harness for the C Unigram tokenizer (csrc/unigram.c), linked directly.
 * The input layout and the checks live in the tokenizer's own entry point fe_ug_fuzz_one (unigram.h):
 * a vocabulary/charsmap built from the input, then a text through it.
 */
#include <stddef.h>
#include <stdint.h>

#include "unigram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fe_ug_fuzz_one(data, (int64_t)size);
    return 0;
}

/* libFuzzer + ASan/UBSan harness for the added-token matcher (csrc/added.c), linked directly. The
 * input layout (a token config, then a text) and the checks (kept matches ordered, disjoint, inside
 * the text, with valid ids) live in the matcher's own entry point fe_added_fuzz_one (added.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "added.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fe_added_fuzz_one(data, (int64_t)size);
    return 0;
}

/* libFuzzer entry for the Unigram C code (blob build/check/open, charsmap trie, normalizers,
 * Metaspace, added tokens, Viterbi) without Python:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc fuzz/unigram_libfuzzer.c csrc/unigram.c -lm \
 *         -o /tmp/fuzz_unigram_c && /tmp/fuzz_unigram_c -max_total_time=60 fuzz/corpus/unigram
 */
#include <stddef.h>
#include <stdint.h>

#include "unigram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fe_ug_fuzz_one(data, (int64_t)size); }

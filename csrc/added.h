/* Added tokens (tokenizers' AddedVocabulary) matched in C, shared by the WordPiece and Unigram
 * fast paths.
 *
 * tokenizers splits a text on its added tokens before pre-tokenization: first the non-normalized
 * ones on the original text, then the normalized ones (contents normalized by the tokenizer's
 * normalizer; done by the caller) on each normalized remaining segment. Each set is matched
 * leftmost-longest (aho-corasick MatchKind::LeftmostLongest: the match that starts first, the longest
 * of those, then the search resumes after it), and a match is then kept or adjusted as
 * AddedVocabulary::find_matches does: single_word discards a match preceded or followed by a regex
 * \w character, lstrip / rstrip extend it over the White_Space around it (lstrip never back past
 * the previous kept match). Matched pieces become their token's id and skip pre-tokenization and the
 * model; the pieces between them go on through the pipeline (empty ones are dropped).
 *
 * A fe_added is immutable after fe_added_new and may be shared by threads.
 */
#ifndef FE_ADDED_H
#define FE_ADDED_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { FE_ADDED_NORMALIZED = 1, FE_ADDED_SINGLE_WORD = 2, FE_ADDED_LSTRIP = 4, FE_ADDED_RSTRIP = 8 };

typedef struct fe_added fe_added;

typedef struct {
    int64_t start, stop; /* byte range of the match in the searched text, strip included */
    int32_t id;
} fe_added_match;

/* Token k: content blob[offs[k]:offs[k+1]] (non-empty valid UTF-8; for normalized ones the normalized
 * content), flags FE_ADDED_*, id >= 0. NULL when out of memory or an argument is invalid (an empty or
 * invalid UTF-8 content, a negative id, the same content twice in one set). n == 0 is valid. */
fe_added *fe_added_new(const char *blob, const int64_t *offs, const uint8_t *flags, const int32_t *ids, int64_t n);
void fe_added_free(fe_added *a);

/* Number of tokens in the set (normalized: 0 the raw set, 1 the normalized set). */
int64_t fe_added_count(const fe_added *a, int normalized);

/* The kept matches of set `normalized` in s[0:n] (valid UTF-8), in order, into *buf (grown with
 * realloc; *cap its capacity in items). Returns how many, -1 when the result cannot be reproduced
 * here (a single_word test on a code point whose \w property may differ between Unicode versions,
 * or a kept match overlapping the previous one, which tokenizers itself splits inconsistently):
 * the caller then sends the text to tokenizers, -2 when out of memory. */
int64_t fe_added_find(const fe_added *a, int normalized, const char *s, int64_t n, fe_added_match **buf,
                      int64_t *cap);

/* libFuzzer-style entry point: data = added-token config then a text; never crashes. */
int fe_added_fuzz_one(const uint8_t *data, int64_t size);

#ifdef __cplusplus
}
#endif
#endif

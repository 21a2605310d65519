/* WordPiece tokenizer fast path: BertNormalizer + BertPreTokenizer + WordPiece, in plain C.
 *
 * Reproduces the ids of HuggingFace tokenizers (encode with add_special_tokens=False) for that
 * pipeline, added tokens included (split out as tokenizers does, csrc/added.c). Unicode behaviour
 * comes from csrc/unicode_tables.h, which is measured on tokenizers
 * itself by scripts/gen_unicode_tables.py. A text the C path cannot reproduce exactly (it holds a
 * code point whose NFD reordering could matter, invalid UTF-8, ...) is flagged for
 * the caller to send to tokenizers; its ids are then never guessed.
 *
 * A fe_wp is immutable after fe_wp_new and may be shared by threads. A fe_wp_state (scratch
 * buffers + a word -> ids cache) belongs to one thread at a time.
 */
#ifndef FE_WORDPIECE_H
#define FE_WORDPIECE_H
#include <stdint.h>

#include "cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FE_WP_CLEAN = 1,  /* BertNormalizer.clean_text */
    FE_WP_CJK = 2,    /* handle_chinese_chars */
    FE_WP_STRIP = 4,  /* strip_accents (already resolved: null follows lowercase) */
    FE_WP_LOWER = 8,  /* lowercase */
    FE_WP_STRICT = 16 /* texts with code points unassigned in the tables' Unicode go to fallback */
};

typedef struct fe_wp fe_wp;
typedef struct fe_wp_state fe_wp_state;

/* Vocabulary: token k is vocab_blob[vocab_offs[k]:vocab_offs[k+1]] (UTF-8) with id vocab_ids[k].
 * Added tokens (matched by tokenizers inside text, see added.h) likewise, with flags FE_ADDED_* and
 * ids; the content of a normalized one is its normalized form. Returns NULL when out of memory or
 * arguments are bad (negative lengths, ids, an empty or duplicate added token). */
fe_wp *fe_wp_new(const char *vocab_blob, const int64_t *vocab_offs, const int32_t *vocab_ids, int64_t n_vocab,
                 const char *prefix, int64_t prefix_len, int32_t unk_id, int64_t max_chars, unsigned flags,
                 const char *added_blob, const int64_t *added_offs, const uint8_t *added_flags,
                 const int32_t *added_ids, int64_t n_added);
void fe_wp_free(fe_wp *wp);

fe_wp_state *fe_wp_state_new(void);
void fe_wp_state_free(fe_wp_state *st);

/* Growable output of ids (malloc'd; the caller frees data). */
typedef struct {
    int32_t *data;
    int64_t len, cap;
} fe_wp_ids;

/* Tokenizes texts[i] (lens[i] bytes of UTF-8) for i < n: appends its ids to *out, keeping the first
 * max_tokens (< 0: all), then removing every id equal to drop_id (< 0: none), and sets counts[i] to
 * the number appended. fallback[i] = 1 (and counts[i] = 0) when text i must go to tokenizers.
 * Returns 0, or -1 when out of memory. */
int fe_wp_encode(const fe_wp *wp, fe_wp_state *st, const char *const *texts, const int64_t *lens, int64_t n,
                 int64_t max_tokens, int64_t drop_id, fe_wp_ids *out, int64_t *counts, uint8_t *fallback);

/* Normalizes and pre-tokenizes one text (for tests and runtime verification). On success returns
 * the number of words, sets *norm (malloc'd, *norm_len bytes) to the normalized text and *spans
 * (malloc'd, 2 per word) to each word's byte range in it. Returns -1 when the text goes to
 * fallback, -2 when out of memory. */
int64_t fe_wp_split(const fe_wp *wp, const char *text, int64_t len, char **norm, int64_t *norm_len,
                    int64_t **spans);

/* The tokenizers version the tables were generated with. */
const char *fe_wp_tables_version(void);

#ifdef __cplusplus
}
#endif
#endif

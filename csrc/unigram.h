/* Unigram (SentencePiece) tokenizer fast path, in plain C.
 *
 * Reproduces the ids of HuggingFace tokenizers (encode with add_special_tokens=False) for
 * normalizer = Sequence of {Precompiled charsmap, Replace (literal, " {2,}", "\A +| +\z", "\A<lit>"),
 * Strip, Prepend, Lowercase, NFD/NFKD/NFC/NFKC}, pre-tokenizer = Sequence of {Metaspace,
 * WhitespaceSplit, Whitespace}, added tokens (csrc/added.c), model = Unigram
 * (Viterbi with the pieces' scores, unknown penalty 10, consecutive unknowns fused, byte_fallback).
 * A text the C path cannot reproduce exactly (a code point that may join
 * a multi-code-point grapheme cluster, a charsmap entry out of range, ...) is flagged for the
 * caller to send to tokenizers.
 *
 * Vocabulary "blob": one flat, position-independent byte array (see UG_MAGIC in unigram.c: header,
 * a double-array trie of the pieces' bytes with their scores, ids per trie unit, the charsmap) made
 * by fe_ug_build, which callers write to a file and memory-map read-only. fe_ug_open validates a
 * blob (every offset and size) and wraps it without copying; the blob must outlive the fe_ug.
 * A fe_ug is immutable and may be shared by threads; a fe_ug_state belongs to one thread at a time.
 */
#ifndef FE_UNIGRAM_H
#define FE_UNIGRAM_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    FE_UG_N_PRECOMPILED = 1, /* the blob's charsmap */
    FE_UG_N_REPLACE = 2,     /* literal a -> b, left to right, non-overlapping */
    FE_UG_N_MULTISPACE = 3,  /* regex " {2,}" -> b */
    FE_UG_N_EDGESPACE = 4,   /* regex "\A +| +\z" -> b */
    FE_UG_N_START = 5,       /* regex "\A" + literal a -> b */
    FE_UG_N_STRIP = 6,       /* flag1 = left, flag2 = right (Unicode White_Space) */
    FE_UG_N_PREPEND = 7,     /* a prepended to a non-empty text */
    FE_UG_N_LOWERCASE = 8,   /* Lowercase (Rust char::to_lowercase per char) */
    FE_UG_N_NFD = 9,         /* NFD, NFKD, NFC, NFKC: csrc/unicode.c */
    FE_UG_N_NFKD = 10,
    FE_UG_N_NFC = 11,
    FE_UG_N_NFKC = 12,
    FE_UG_P_METASPACE = 20,  /* a = replacement, flag1 = 0 always / 1 first / 2 never, flag2 = split */
    FE_UG_P_WSSPLIT = 21,    /* split on Unicode White_Space, removed */
    FE_UG_P_WHITESPACE = 22  /* Whitespace: \w+ | [^\w\s]+ (csrc/unicode.c) */
};

typedef struct {
    int kind;
    const char *a;
    int64_t a_len;
    const char *b;
    int64_t b_len;
    int flag1, flag2;
} fe_ug_op;

typedef struct fe_ug fe_ug;
typedef struct fe_ug_state fe_ug_state;

/* Builds a blob: piece k is pieces[offs[k]:offs[k+1]] (UTF-8, non-empty) with score scores[k];
 * unk_id < 0 for none; charsmap (may be NULL/0) is SentencePiece's precompiled charsmap (decoded);
 * risky = sorted inclusive code point ranges (2 per range) of code points that may join a grapheme
 * cluster with a neighbour. Returns 0 and a malloc'd blob, -1 out of memory, -2 invalid arguments
 * (an empty or over-long piece, unk_id out of range), -3 a malformed charsmap. */
int fe_ug_build(const char *pieces, const int64_t *offs, const double *scores, int64_t n, int32_t unk_id,
                int byte_fallback, const uint8_t *charsmap, int64_t charsmap_len, const uint32_t *risky,
                int64_t n_risky, uint8_t **blob, int64_t *blob_len);

/* 0 when blob[0:len] is a valid, self-consistent vocabulary blob; otherwise a negative code. */
int fe_ug_check(const uint8_t *blob, int64_t len);

enum { FE_UG_ADDED_NORMALIZED = 1, FE_UG_ADDED_SINGLE_WORD = 2, FE_UG_ADDED_LSTRIP = 4, FE_UG_ADDED_RSTRIP = 8 };

/* A tokenizer over a checked blob plus the pipeline ops and the added tokens (k: content
 * added_blob[added_offs[k]:added_offs[k+1]], flags FE_UG_ADDED_*, id). Non-normalized added tokens
 * are split out of the text as tokenizers does; a text whose normalized form holds a normalized
 * one goes to fallback. NULL when out of memory, the blob fails fe_ug_check, or an op is invalid. */
fe_ug *fe_ug_open(const uint8_t *blob, int64_t blob_len, const fe_ug_op *norm, int n_norm, const fe_ug_op *pre,
                  int n_pre, const char *added_blob, const int64_t *added_offs, const uint8_t *added_flags,
                  const int32_t *added_ids, int64_t n_added);
void fe_ug_free(fe_ug *ug);

fe_ug_state *fe_ug_state_new(void);
void fe_ug_state_free(fe_ug_state *st);

/* Growable output of ids (malloc'd; the caller frees data). */
typedef struct {
    int32_t *data;
    int64_t len, cap;
} fe_ug_ids;

/* As fe_wp_encode: appends the ids of texts[i] (lens[i] bytes of valid UTF-8), the first max_tokens
 * (< 0: all) without drop_id (< 0: none); counts[i] = ids appended; fallback[i] = 1 (count 0) when
 * the text must go to tokenizers. Returns 0, or -1 when out of memory. */
int fe_ug_encode(const fe_ug *ug, fe_ug_state *st, const char *const *texts, const int64_t *lens, int64_t n,
                 int64_t max_tokens, int64_t drop_id, fe_ug_ids *out, int64_t *counts, uint8_t *fallback);

/* Normalized text of one text (for tests): malloc'd *norm of *norm_len bytes; 0, -1 fallback, -2 OOM. */
int fe_ug_normalize(const fe_ug *ug, fe_ug_state *st, const char *text, int64_t len, char **norm,
                    int64_t *norm_len);

/* libFuzzer-style entry point: data = [u16 charsmap length][charsmap][text] (bit 0 of data[0]: the
 * vocabulary blob is also corrupted from the text's bytes); never crashes. */
int fe_ug_fuzz_one(const uint8_t *data, int64_t size);

#ifdef __cplusplus
}
#endif
#endif

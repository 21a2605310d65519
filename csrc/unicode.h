/* Unicode steps of tokenizers' normalizers and pre-tokenizers beyond BertNormalizer, over the
 * tables of unicode_tables.h (measured on tokenizers by scripts/gen_unicode_tables.py), defined
 * once in unicode.c. Used by the Unigram pipeline (unigram_norm.c) and added-token matching (added.c).
 */
#ifndef FE_UNICODE_H
#define FE_UNICODE_H
#include <stddef.h>
#include <stdint.h>

#include "unicode_tables.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The 0..n code points (*len) a generated mapping table gives for cp (binary search); NULL when unmapped. */
static inline const uint32_t *fe_u_map(const uint32_t *keys, const uint16_t *offs, const uint32_t *pool, int n,
                                       uint32_t cp, int *len) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (keys[mid] < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < n && keys[lo] == cp) {
        *len = offs[lo + 1] - offs[lo];
        return pool + offs[lo];
    }
    *len = 0;
    return NULL;
}

/* Regex \w (Rust regex, Unicode): 1 yes, 0 no, -1 unknown here (unassigned for Python's Unicode). */
static inline int fe_uni_word(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    unsigned f = fe_u_flags(cp);
    return (f & FE_U_UNASSIGNED) ? -1 : (f & FE_U_WORD) != 0;
}

/* The next word of tokenizers' Whitespace pre-tokenizer (regex \w+|[^\w\s]+, White_Space removed) in
 * s[*pos:n] (valid UTF-8): returns 1 and the word s[*a:*z] (advancing *pos past it), 0 when only
 * White_Space is left, -1 at a code point whose class may differ from tokenizers' (fallback). */
int fe_uni_ws_next(const char *s, int64_t n, int64_t *pos, int64_t *a, int64_t *z);

enum { FE_UNI_LOWERCASE = 0, FE_UNI_NFD = 1, FE_UNI_NFKD = 2, FE_UNI_NFC = 3, FE_UNI_NFKC = 4 };

/* Appends the form of s[0:n] (valid UTF-8) to the growable buffer (*p, *len, *cap; realloc'd):
 * Lowercase (Rust char::to_lowercase per char, as NormalizedString::lowercase) or NFD/NFKD/NFC/NFKC
 * (as the unicode-normalization crate tokenizers uses). *cps / *cps_cap: scratch (realloc'd).
 * Returns 0, 1 when a code point's behaviour may differ from tokenizers' (fallback), -1 OOM. */
int fe_uni_transform(int form, const char *s, int64_t n, char **p, int64_t *len, int64_t *cap, uint32_t **cps,
                     int64_t *cps_cap);

#ifdef __cplusplus
}
#endif
#endif

/* Added-token matching (tokenizers' AddedVocabulary::find_matches); contracts in added.h.
 *
 * Each set is a byte trie: the root's children in a 256-entry table, deeper edges in one
 * open-addressing hash table keyed by (node, byte). Leftmost-longest = for each start position from
 * the left, walk the trie as far as the text allows and keep the last token end seen; the first
 * position with a token end is the match. Walks are short (a mismatch ends them), so a text costs
 * about one table lookup per byte plus the bytes of near-matches.
 */
#include "added.h"

#include <stdlib.h>
#include <string.h>

#include "unicode.h"
#include "utf8.h"

typedef struct {
    int32_t root[256];
    uint64_t *keys; /* (node << 8 | byte) + 1, 0: empty slot */
    int32_t *child;
    uint64_t mask;
    int32_t *term; /* per node: index of the token ending here, or -1 */
    int64_t n_nodes, n_tokens;
    uint64_t pair[1024]; /* bit (b0 << 8 | b1): some token starts with bytes b0 b1 (a cheap first reject) */
    int n_first;         /* distinct first bytes of the tokens (counted up to 2) */
    uint8_t first;       /* the first byte when n_first == 1: memchr skips to it */
} ad_trie;

struct fe_added {
    ad_trie t[2];
    int32_t *ids;
    uint8_t *flags;
};

static inline uint64_t ad_hash(uint64_t k) {
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

static inline int32_t ad_child(const ad_trie *t, int32_t node, uint8_t b) {
    if (node == 0) return t->root[b];
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    for (uint64_t i = ad_hash(key) & t->mask;; i = (i + 1) & t->mask) {
        if (t->keys[i] == key) return t->child[i];
        if (t->keys[i] == 0) return -1;
    }
}

/* The child of node by b, created when missing; -1 when the table is full (never: sized by bytes). */
static int32_t ad_add_child(ad_trie *t, int32_t node, uint8_t b) {
    int32_t c = ad_child(t, node, b);
    if (c >= 0) return c;
    c = (int32_t)t->n_nodes++;
    t->term[c] = -1;
    if (node == 0) {
        t->root[b] = c;
        return c;
    }
    uint64_t key = (((uint64_t)node << 8) | b) + 1;
    uint64_t i = ad_hash(key) & t->mask;
    while (t->keys[i]) i = (i + 1) & t->mask;
    t->keys[i] = key;
    t->child[i] = c;
    return c;
}

void fe_added_free(fe_added *a) {
    if (!a) return;
    for (int s = 0; s < 2; s++) {
        free(a->t[s].keys);
        free(a->t[s].child);
        free(a->t[s].term);
    }
    free(a->ids);
    free(a->flags);
    free(a);
}

fe_added *fe_added_new(const char *blob, const int64_t *offs, const uint8_t *flags, const int32_t *ids, int64_t n) {
    if (n < 0 || n > INT32_MAX) return NULL;
    fe_added *a = (fe_added *)calloc(1, sizeof(fe_added));
    if (!a) return NULL;
    int64_t bytes[2] = {0, 0};
    for (int64_t k = 0; k < n; k++) {
        int64_t len = offs[k + 1] - offs[k];
        if (len <= 0 || ids[k] < 0 || !fe_utf8_valid(blob + offs[k], len) || len > INT32_MAX / 2) goto fail;
        bytes[flags[k] & FE_ADDED_NORMALIZED] += len;
        if (bytes[flags[k] & FE_ADDED_NORMALIZED] > INT32_MAX / 2) goto fail;
    }
    a->ids = (int32_t *)malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    a->flags = (uint8_t *)malloc((size_t)(n ? n : 1));
    if (!a->ids || !a->flags) goto fail;
    for (int s = 0; s < 2; s++) {
        ad_trie *t = &a->t[s];
        uint64_t cap = 16;
        while (cap < (uint64_t)bytes[s] * 2) cap <<= 1;
        t->keys = (uint64_t *)calloc((size_t)cap, sizeof(uint64_t));
        t->child = (int32_t *)malloc((size_t)cap * sizeof(int32_t));
        t->term = (int32_t *)malloc((size_t)(bytes[s] + 1) * sizeof(int32_t));
        if (!t->keys || !t->child || !t->term) goto fail;
        t->mask = cap - 1;
        for (int b = 0; b < 256; b++) t->root[b] = -1;
        t->term[0] = -1;
        t->n_nodes = 1;
    }
    for (int64_t k = 0; k < n; k++) {
        ad_trie *t = &a->t[flags[k] & FE_ADDED_NORMALIZED];
        int32_t node = 0;
        uint8_t b0 = (uint8_t)blob[offs[k]];
        if (t->root[b0] < 0) t->n_first += t->n_first < 2;
        t->first = b0;
        for (int64_t i = offs[k]; i < offs[k + 1]; i++) node = ad_add_child(t, node, (uint8_t)blob[i]);
        if (t->term[node] >= 0) goto fail; /* the same content twice */
        if (offs[k + 1] - offs[k] >= 2) {
            unsigned pr = ((unsigned)(uint8_t)blob[offs[k]] << 8) | (uint8_t)blob[offs[k] + 1];
            t->pair[pr >> 6] |= 1ull << (pr & 63);
        }
        t->term[node] = (int32_t)k;
        t->n_tokens++;
        a->ids[k] = ids[k];
        a->flags[k] = flags[k];
    }
    return a;
fail:
    fe_added_free(a);
    return NULL;
}

int64_t fe_added_count(const fe_added *a, int normalized) { return a ? a->t[normalized ? 1 : 0].n_tokens : 0; }

/* Regex \w of the code point ending at s[n] (before = 1) or starting at s (before = 0): 1, 0, -1 unknown. */
static int ad_word_at(const char *s, int64_t n, int before) {
    uint32_t cp = 0;
    if (before) {
        int64_t i = fe_utf8_back(s, n);
        fe_utf8_get((const uint8_t *)s + i, n - i, &cp);
    } else {
        fe_utf8_get((const uint8_t *)s, n, &cp);
    }
    return fe_uni_word(cp);
}

static int64_t ad_space_len(const char *s, int64_t n) {
    uint32_t cp;
    int k = fe_utf8_get((const uint8_t *)s, n, &cp);
    return k && fe_is_white_space(cp) ? k : 0;
}

int64_t fe_added_find(const fe_added *a, int normalized, const char *s, int64_t n, fe_added_match **buf,
                      int64_t *cap) {
    const ad_trie *t = &a->t[normalized ? 1 : 0];
    int64_t count = 0, seg = 0; /* seg: end of the previous kept match (tokenizers' start_offset) */
    if (!t->n_tokens) return 0;
    for (int64_t i = 0; i < n;) {
        if (t->n_first == 1) { /* e.g. only special tokens, all starting with '[' or '<' */
            const char *p = (const char *)memchr(s + i, t->first, (size_t)(n - i));
            if (!p) break;
            i = p - s;
        } else {
            while (i < n && t->root[(uint8_t)s[i]] < 0) i++;
            if (i == n) break;
        }
        int32_t node = t->root[(uint8_t)s[i]], best = -1;
        int64_t best_end = 0;
        if (node >= 0 && t->term[node] < 0 && i + 1 < n) {
            unsigned pr = ((unsigned)(uint8_t)s[i] << 8) | (uint8_t)s[i + 1];
            if (!((t->pair[pr >> 6] >> (pr & 63)) & 1)) node = -1;
        }
        for (int64_t j = i + 1; node >= 0;) {
            if (t->term[node] >= 0) {
                best = t->term[node];
                best_end = j;
            }
            if (j == n) break;
            node = ad_child(t, node, (uint8_t)s[j++]);
        }
        if (best < 0) {
            i++;
            continue;
        }
        int64_t start = i, stop = best_end, k;
        uint8_t f = a->flags[best];
        i = stop; /* the search resumes after the match, even when it is discarded */
        if (f & FE_ADDED_SINGLE_WORD) {
            int before = start == 0 ? 0 : ad_word_at(s, start, 1);
            int after = stop == n ? 0 : ad_word_at(s + stop, n - stop, 0);
            if (before < 0 || after < 0) return -1;
            if (before || after) continue;
        }
        if (start < seg) return -1; /* a previous rstrip ran over this match */
        if (f & FE_ADDED_LSTRIP) {
            int64_t ns = start;
            while (ns > 0) {
                int64_t b = fe_utf8_back(s, ns);
                if (!ad_space_len(s + b, ns - b)) break;
                ns = b;
            }
            start = ns > seg ? ns : seg;
        }
        if (f & FE_ADDED_RSTRIP)
            while (stop < n && (k = ad_space_len(s + stop, n - stop))) stop += k;
        if (count == *cap) {
            int64_t c = *cap ? *cap * 2 : 16;
            fe_added_match *p = (fe_added_match *)realloc(*buf, (size_t)c * sizeof(fe_added_match));
            if (!p) return -2;
            *buf = p;
            *cap = c;
        }
        (*buf)[count++] = (fe_added_match){start, stop, a->ids[best]};
        seg = stop;
    }
    return count;
}

int fe_added_fuzz_one(const uint8_t *data, int64_t size) {
    /* data: [n tokens (<= 15) : 1 byte][per token: flags byte, length byte, content] then the text. */
    if (size < 1) return 0;
    int64_t n = data[0] & 15, at = 1, offs[16], total = 0;
    uint8_t flags[16];
    int32_t ids[16];
    char blob[16 * 255 + 1];
    offs[0] = 0;
    for (int64_t k = 0; k < n; k++) {
        if (at + 2 > size) return 0;
        flags[k] = data[at] & 15;
        int64_t len = data[at + 1];
        at += 2;
        if (at + len > size) return 0;
        memcpy(blob + total, data + at, (size_t)len);
        total += len;
        at += len;
        offs[k + 1] = total;
        ids[k] = (int32_t)k;
    }
    fe_added *a = fe_added_new(blob, offs, flags, ids, n);
    if (!a) return 0;
    const char *text = (const char *)data + at;
    int64_t len = size - at;
    if (fe_utf8_valid(text, len)) {
        fe_added_match *m = NULL;
        int64_t cap = 0;
        for (int s = 0; s < 2; s++) {
            int64_t got = fe_added_find(a, s, text, len, &m, &cap);
            int64_t prev = 0;
            for (int64_t k = 0; k < got; k++) { /* matches are ordered, disjoint and inside the text */
                if (m[k].start < prev || m[k].stop <= m[k].start || m[k].stop > len || m[k].id < 0 || m[k].id >= n)
                    abort();
                prev = m[k].stop;
            }
        }
        free(m);
    }
    fe_added_free(a);
    return 0;
}

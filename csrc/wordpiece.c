/* WordPiece fast path; contracts in wordpiece.h, semantics in fastembed_core/_ref/wordpiece.py.
 *
 * Per text: (1) normalize into a scratch buffer, one code point at a time, composing the
 * per-code-point maps of unicode_tables.h in tokenizers' order (clean_text, chinese chars, NFD +
 * drop Mn, lowercase); (2) split it on whitespace / isolate punctuation (BertPreTokenizer);
 * (3) WordPiece each word by greedy longest match, through a per-state word -> ids cache.
 */
#include "wordpiece.h"

#include <stdlib.h>
#include <string.h>

#include "added.h"
#include "unicode.h"
#include "utf8.h"

const char *fe_wp_tables_version(void) { return FE_U_TOKENIZERS_VERSION; }

/* ---------------------------------------------------------------- hashing */

static inline uint64_t wp_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return h;
}

/* Open-addressing string -> id table; keys live in one pool. id < 0 marks an empty slot. */
typedef struct {
    uint32_t hash, off, len;
    int32_t id;
} wp_slot;

typedef struct {
    wp_slot *slots;
    uint64_t mask;
    char *pool;
    int64_t pool_len, pool_cap;
    int64_t maxlen; /* longest key in bytes */
} wp_table;

static int wp_table_init(wp_table *t, int64_t n) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2 + 1) cap <<= 1;
    t->slots = (wp_slot *)malloc(cap * sizeof(wp_slot));
    if (!t->slots) return -1;
    for (uint64_t i = 0; i < cap; i++) t->slots[i].id = -1;
    t->mask = cap - 1;
    t->pool = NULL;
    t->pool_len = t->pool_cap = 0;
    t->maxlen = 0;
    return 0;
}

static void wp_table_free(wp_table *t) {
    free(t->slots);
    free(t->pool);
}

/* Inserts key -> id unless the key is present (first wins). 0 or -1 (out of memory / too big). */
static int wp_table_put(wp_table *t, const char *key, int64_t len, int32_t id) {
    uint64_t h = wp_hash(key, (size_t)len);
    uint64_t i = h & t->mask;
    while (t->slots[i].id >= 0) {
        wp_slot *s = &t->slots[i];
        if (s->hash == (uint32_t)h && s->len == (uint64_t)len && memcmp(t->pool + s->off, key, (size_t)len) == 0)
            return 0;
        i = (i + 1) & t->mask;
    }
    if (t->pool_len + len > (int64_t)UINT32_MAX) return -1;
    if (t->pool_len + len > t->pool_cap) {
        int64_t cap = t->pool_cap ? t->pool_cap * 2 : 4096;
        while (cap < t->pool_len + len) cap *= 2;
        char *p = (char *)realloc(t->pool, (size_t)cap);
        if (!p) return -1;
        t->pool = p;
        t->pool_cap = cap;
    }
    memcpy(t->pool + t->pool_len, key, (size_t)len);
    t->slots[i].hash = (uint32_t)h;
    t->slots[i].off = (uint32_t)t->pool_len;
    t->slots[i].len = (uint32_t)len;
    t->slots[i].id = id;
    t->pool_len += len;
    if (len > t->maxlen) t->maxlen = len;
    return 0;
}

static inline int32_t wp_table_get(const wp_table *t, const char *key, int64_t len) {
    uint64_t h = wp_hash(key, (size_t)len);
    uint64_t i = h & t->mask;
    for (;;) {
        const wp_slot *s = &t->slots[i];
        if (s->id < 0) return -1;
        if (s->hash == (uint32_t)h && s->len == (uint64_t)len && memcmp(t->pool + s->off, key, (size_t)len) == 0)
            return s->id;
        i = (i + 1) & t->mask;
    }
}

/* ---------------------------------------------------------------- model */

struct fe_wp {
    wp_table full, cont; /* cont: keys that start with the prefix, prefix removed */
    int32_t unk_id;
    int64_t max_chars;
    unsigned flags;
    int16_t amap[128];  /* ASCII byte -> normalized byte, -1 = removed */
    uint8_t aclass[128]; /* ASCII byte -> 0 word, 1 whitespace, 2 punctuation */
    fe_added *added; /* NULL when there are none */
};

void fe_wp_free(fe_wp *wp) {
    if (!wp) return;
    wp_table_free(&wp->full);
    wp_table_free(&wp->cont);
    fe_added_free(wp->added);
    free(wp);
}

enum { WP_WORD = 0, WP_SPACE = 1, WP_PUNCT = 2 };

static inline int wp_class(uint32_t cp) {
    unsigned f = fe_u_flags(cp);
    return (f & FE_U_WS) ? WP_SPACE : (f & FE_U_PUNCT) ? WP_PUNCT : WP_WORD;
}

fe_wp *fe_wp_new(const char *vocab_blob, const int64_t *vocab_offs, const int32_t *vocab_ids, int64_t n_vocab,
                 const char *prefix, int64_t prefix_len, int32_t unk_id, int64_t max_chars, unsigned flags,
                 const char *added_blob, const int64_t *added_offs, const uint8_t *added_flags,
                 const int32_t *added_ids, int64_t n_added) {
    if (n_vocab < 0 || prefix_len < 0 || unk_id < 0 || max_chars < 0 || n_added < 0) return NULL;
    fe_wp *wp = (fe_wp *)calloc(1, sizeof(fe_wp));
    if (!wp) return NULL;
    if (wp_table_init(&wp->full, n_vocab) || wp_table_init(&wp->cont, n_vocab)) goto fail;
    for (int64_t k = 0; k < n_vocab; k++) {
        const char *key = vocab_blob + vocab_offs[k];
        int64_t len = vocab_offs[k + 1] - vocab_offs[k];
        if (len < 0 || vocab_ids[k] < 0) goto fail;
        if (wp_table_put(&wp->full, key, len, vocab_ids[k])) goto fail;
        if (len >= prefix_len && memcmp(key, prefix, (size_t)prefix_len) == 0)
            if (wp_table_put(&wp->cont, key + prefix_len, len - prefix_len, vocab_ids[k])) goto fail;
    }
    wp->unk_id = unk_id;
    wp->max_chars = max_chars;
    wp->flags = flags;
    for (uint32_t c = 0; c < 128; c++) {
        unsigned f = fe_u_flags(c);
        int16_t v = (int16_t)c;
        if ((flags & FE_WP_CLEAN) && (f & FE_U_CLEAN_REMOVE)) v = -1;
        else if ((flags & FE_WP_CLEAN) && (f & FE_U_CLEAN_SPACE)) v = ' ';
        else if ((flags & FE_WP_LOWER) && (f & FE_U_LOWER_MAP)) {
            int k;
            const uint32_t *m = fe_u_map(fe_u_lower_keys, fe_u_lower_offs, fe_u_lower_pool, FE_U_LOWER_N, c, &k);
            if (!m || k != 1 || m[0] >= 128) goto fail; /* never happens with tokenizers' tables */
            v = (int16_t)m[0];
        }
        wp->amap[c] = v;
        wp->aclass[c] = (uint8_t)wp_class(c);
    }
    if (n_added && !(wp->added = fe_added_new(added_blob, added_offs, added_flags, added_ids, n_added))) goto fail;
    return wp;
fail:
    fe_wp_free(wp);
    return NULL;
}

/* ---------------------------------------------------------------- per-thread state */

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, n_ids;
} wp_centry;

#define WP_CACHE_SLOTS (1u << 16)
#define WP_CACHE_MAX_WORD 64

struct fe_wp_state {
    const fe_wp *owner; /* the cache is only valid for one model */
    char *norm;
    int64_t norm_cap;
    int32_t *tmp;
    int64_t tmp_cap;
    wp_centry *cache; /* key_len == 0: empty */
    uint32_t cache_count;
    char *ckeys;
    int64_t ckeys_len, ckeys_cap;
    int32_t *cids;
    int64_t cids_len, cids_cap;
    fe_added_match *am[2]; /* added-token matches: in the text [0], in a normalized segment [1] */
    int64_t am_cap[2];
};

fe_wp_state *fe_wp_state_new(void) { return (fe_wp_state *)calloc(1, sizeof(fe_wp_state)); }

void fe_wp_state_free(fe_wp_state *st) {
    if (!st) return;
    free(st->norm);
    free(st->tmp);
    free(st->cache);
    free(st->ckeys);
    free(st->cids);
    free(st->am[0]);
    free(st->am[1]);
    free(st);
}

static int wp_reserve(void **buf, int64_t *cap, int64_t need, size_t item) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 256;
    while (c < need) c *= 2;
    void *p = realloc(*buf, (size_t)c * item);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

static void wp_cache_clear(fe_wp_state *st) {
    if (st->cache) memset(st->cache, 0, WP_CACHE_SLOTS * sizeof(wp_centry));
    st->cache_count = 0;
    st->ckeys_len = st->cids_len = 0;
}

/* Cached ids of word, or NULL. */
static const int32_t *wp_cache_get(const fe_wp_state *st, const char *w, int64_t len, uint64_t h, int64_t *n) {
    if (!st->cache) return NULL;
    uint32_t i = (uint32_t)h & (WP_CACHE_SLOTS - 1);
    for (;;) {
        const wp_centry *e = &st->cache[i];
        if (e->key_len == 0) return NULL;
        if (e->hash == h && e->key_len == (uint64_t)len && memcmp(st->ckeys + e->key_off, w, (size_t)len) == 0) {
            *n = e->n_ids;
            return st->cids + e->ids_off;
        }
        i = (i + 1) & (WP_CACHE_SLOTS - 1);
    }
}

/* Best effort: a failed allocation just leaves the word uncached. */
static void wp_cache_put(fe_wp_state *st, const char *w, int64_t len, uint64_t h, const int32_t *ids, int64_t n) {
    if (!st->cache) {
        st->cache = (wp_centry *)calloc(WP_CACHE_SLOTS, sizeof(wp_centry));
        if (!st->cache) return;
    }
    if (st->cache_count >= WP_CACHE_SLOTS / 2) wp_cache_clear(st);
    if (wp_reserve((void **)&st->ckeys, &st->ckeys_cap, st->ckeys_len + len, 1) ||
        wp_reserve((void **)&st->cids, &st->cids_cap, st->cids_len + n, sizeof(int32_t)))
        return;
    uint32_t i = (uint32_t)h & (WP_CACHE_SLOTS - 1);
    while (st->cache[i].key_len != 0) i = (i + 1) & (WP_CACHE_SLOTS - 1);
    memcpy(st->ckeys + st->ckeys_len, w, (size_t)len);
    memcpy(st->cids + st->cids_len, ids, (size_t)n * sizeof(int32_t));
    st->cache[i] = (wp_centry){h, (uint32_t)st->ckeys_len, (uint32_t)len, (uint32_t)st->cids_len, (uint32_t)n};
    st->ckeys_len += len;
    st->cids_len += n;
    st->cache_count++;
}

/* ---------------------------------------------------------------- normalization */

/* Lowercase step for one code point, appended at o; returns bytes written. */
static inline int wp_put_lower(const fe_wp *wp, char *o, uint32_t x) {
    if ((wp->flags & FE_WP_LOWER) && (fe_u_flags(x) & FE_U_LOWER_MAP)) {
        int k, w = 0;
        const uint32_t *m = fe_u_map(fe_u_lower_keys, fe_u_lower_offs, fe_u_lower_pool, FE_U_LOWER_N, x, &k);
        for (int j = 0; j < k; j++) w += fe_utf8_put(o + w, m[j]);
        if (m) return w;
    }
    return fe_utf8_put(o, x);
}

/* Strip (NFD, drop Mn) then lowercase, for one code point. Returns bytes written, -1 for fallback. */
static inline int wp_put_strip_lower(const fe_wp *wp, char *o, uint32_t cp, unsigned f) {
    if (wp->flags & FE_WP_STRIP) {
        if (f & ((wp->flags & FE_WP_STRICT) ? (FE_U_FB_STRIP | FE_U_CCC) : FE_U_FB_STRIP)) return -1;
        if (f & FE_U_STRIP_MAP) {
            int k, w = 0;
            const uint32_t *m = fe_u_map(fe_u_strip_keys, fe_u_strip_offs, fe_u_strip_pool, FE_U_STRIP_N, cp, &k);
            for (int j = 0; j < k; j++) w += wp_put_lower(wp, o + w, m[j]);
            if (m) return w;
        }
    }
    return wp_put_lower(wp, o, cp);
}

/* Bytes one input code point may become at most (checked against the generated tables). */
#define WP_MAX_EXPANSION 64
typedef char wp_expansion_fits[(FE_U_MAX_EXPANSION <= WP_MAX_EXPANSION) ? 1 : -1];

/* Normalizes s[0:n] into st->norm. Returns its length, -1 for fallback, -2 when out of memory. */
static int64_t wp_normalize(const fe_wp *wp, fe_wp_state *st, const uint8_t *s, int64_t n) {
    if (wp_reserve((void **)&st->norm, &st->norm_cap, n + WP_MAX_EXPANSION, 1)) return -2;
    char *o = st->norm;
    int64_t w = 0, i = 0;
    const unsigned flags = wp->flags;
    while (i < n) {
        if (s[i] < 0x80) {
            int16_t v = wp->amap[s[i++]];
            if (v >= 0) o[w++] = (char)v;
            continue;
        }
        uint32_t cp;
        int k = fe_utf8_get(s + i, n - i, &cp);
        if (!k) return -1;
        i += k;
        /* room for this code point and for the rest if it were ASCII (the loop then needs no check) */
        if (st->norm_cap < w + (n - i) + WP_MAX_EXPANSION) {
            if (wp_reserve((void **)&st->norm, &st->norm_cap, w + (n - i) + WP_MAX_EXPANSION, 1)) return -2;
            o = st->norm;
        }
        unsigned f = fe_u_flags(cp);
        if ((flags & FE_WP_STRICT) && (f & FE_U_UNASSIGNED)) return -1;
        if (flags & FE_WP_CLEAN) {
            if (f & FE_U_CLEAN_REMOVE) continue;
            if (f & FE_U_CLEAN_SPACE) {
                o[w++] = ' ';
                continue;
            }
        }
        int cjk = (flags & FE_WP_CJK) && (f & FE_U_CJK);
        if (cjk) o[w++] = ' ';
        int r = wp_put_strip_lower(wp, o + w, cp, f);
        if (r < 0) return -1;
        w += r;
        if (cjk) o[w++] = ' ';
    }
    return w;
}

/* Normalizes text into st->norm (for fe_wp_split: texts holding added tokens go to fallback there).
 * Length, -1 fallback, -2 OOM. */
static int64_t wp_prepare(const fe_wp *wp, fe_wp_state *st, const char *text, int64_t len) {
    int64_t k = wp->added ? fe_added_find(wp->added, 0, text, len, &st->am[0], &st->am_cap[0]) : 0;
    if (k) return k == -2 ? -2 : -1;
    int64_t m = wp_normalize(wp, st, (const uint8_t *)text, len);
    if (m >= 0 && wp->added && (k = fe_added_find(wp->added, 1, st->norm, m, &st->am[1], &st->am_cap[1])))
        return k == -2 ? -2 : -1;
    return m;
}

/* ---------------------------------------------------------------- WordPiece */

/* ids of one word (normalized UTF-8, nchars code points): pointer to n ids (valid until the next
 * call on st), or NULL when out of memory. */
static const int32_t *wp_word(const fe_wp *wp, fe_wp_state *st, const char *w, int64_t len, int64_t nchars,
                              int64_t *n) {
    if (nchars > wp->max_chars) {
        *n = 1;
        return &wp->unk_id;
    }
    uint64_t h = 0;
    if (len <= WP_CACHE_MAX_WORD) {
        h = wp_hash(w, (size_t)len);
        const int32_t *hit = wp_cache_get(st, w, len, h, n);
        if (hit) return hit;
    }
    int64_t cnt = 0, start = 0;
    const wp_table *t = &wp->full;
    while (start < len) {
        int64_t end = start + t->maxlen;
        if (end >= len) end = len;
        else
            while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80) end--;
        int32_t id = -1;
        while (end > start) {
            id = wp_table_get(t, w + start, end - start);
            if (id >= 0) break;
            end--;
            while (end > start && ((uint8_t)w[end] & 0xC0) == 0x80) end--;
        }
        if (id < 0) {
            cnt = 0;
            break;
        }
        if (wp_reserve((void **)&st->tmp, &st->tmp_cap, cnt + 1, sizeof(int32_t))) return NULL;
        st->tmp[cnt++] = id;
        start = end;
        t = &wp->cont;
    }
    if (cnt == 0) { /* no match somewhere (a non-empty word always gives >= 1 id otherwise) */
        if (wp_reserve((void **)&st->tmp, &st->tmp_cap, 1, sizeof(int32_t))) return NULL;
        st->tmp[cnt++] = wp->unk_id;
    }
    if (len <= WP_CACHE_MAX_WORD) wp_cache_put(st, w, len, h, st->tmp, cnt);
    *n = cnt;
    return st->tmp;
}

/* The next pre-token of s[*pos:m] (BertPreTokenizer: whitespace splits and is removed, each
 * punctuation char is its own word). Sets *start, *nchars and advances *pos past it; returns 0
 * when only whitespace is left. */
static int wp_next_word(const fe_wp *wp, const char *s, int64_t m, int64_t *pos, int64_t *start, int64_t *nchars) {
    int64_t i = *pos, ws = i, nc = 0;
    while (i < m) {
        uint8_t c = (uint8_t)s[i];
        int cls, k = 1;
        if (c < 0x80) {
            cls = wp->aclass[c];
        } else {
            uint32_t cp = 0;
            k = fe_utf8_get((const uint8_t *)s + i, m - i, &cp); /* s is our own valid UTF-8 */
            cls = wp_class(cp);
        }
        if (cls == WP_WORD) {
            nc++;
            i += k;
            continue;
        }
        if (i > ws) break; /* a word ends here */
        i += k;
        if (cls == WP_PUNCT) {
            nc = 1;
            break;
        }
        ws = i; /* whitespace */
    }
    *pos = i;
    *start = ws;
    *nchars = nc;
    return i > ws;
}

/* Appends the ids of st->norm[a:z] to out, stopping once out holds `limit` ids from `at` on.
 * 0, or -2 when out of memory. */
static int wp_tokenize(const fe_wp *wp, fe_wp_state *st, int64_t a, int64_t z, int64_t at, int64_t limit,
                       fe_wp_ids *out) {
    int64_t pos = a, ws, nchars;
    while (out->len - at < limit && wp_next_word(wp, st->norm, z, &pos, &ws, &nchars)) {
        int64_t n;
        const int32_t *ids = wp_word(wp, st, st->norm + ws, pos - ws, nchars, &n);
        if (!ids) return -2;
        if (wp_reserve((void **)&out->data, &out->cap, out->len + n, sizeof(int32_t))) return -2;
        memcpy(out->data + out->len, ids, (size_t)n * sizeof(int32_t));
        out->len += n;
    }
    return 0;
}

static int wp_emit(fe_wp_ids *out, int32_t id) {
    if (wp_reserve((void **)&out->data, &out->cap, out->len + 1, sizeof(int32_t))) return -2;
    out->data[out->len++] = id;
    return 0;
}

/* One piece of the text between raw added tokens: normalize it, split out the normalized added
 * tokens, tokenize the rest. 0, -1 fallback, -2 OOM. */
static int wp_segment(const fe_wp *wp, fe_wp_state *st, const char *s, int64_t n, int64_t at, int64_t limit,
                      fe_wp_ids *out) {
    int64_t m = wp_normalize(wp, st, (const uint8_t *)s, n);
    if (m < 0) return (int)m;
    int64_t k = wp->added ? fe_added_find(wp->added, 1, st->norm, m, &st->am[1], &st->am_cap[1]) : 0;
    if (k < 0) return (int)k;
    int64_t seg = 0;
    for (int64_t j = 0; j < k && out->len - at < limit; j++) {
        const fe_added_match *mt = &st->am[1][j];
        if (seg < mt->start && wp_tokenize(wp, st, seg, mt->start, at, limit, out)) return -2;
        if (out->len - at < limit && wp_emit(out, mt->id)) return -2;
        seg = mt->stop;
    }
    return seg < m ? wp_tokenize(wp, st, seg, m, at, limit, out) : 0;
}

/* The ids of one text appended to out (the first `limit`). 0, -1 fallback, -2 OOM. */
static int wp_text(const fe_wp *wp, fe_wp_state *st, const char *text, int64_t len, int64_t limit, fe_wp_ids *out) {
    int64_t at = out->len;
    int64_t k = wp->added ? fe_added_find(wp->added, 0, text, len, &st->am[0], &st->am_cap[0]) : 0;
    if (k < 0) return (int)k;
    int64_t seg = 0;
    for (int64_t j = 0; j < k && out->len - at < limit; j++) {
        int64_t start = st->am[0][j].start, stop = st->am[0][j].stop;
        int32_t id = st->am[0][j].id;
        if (seg < start) {
            int rc = wp_segment(wp, st, text + seg, start - seg, at, limit, out);
            if (rc) return rc;
        }
        if (out->len - at < limit && wp_emit(out, id)) return -2;
        seg = stop;
    }
    return seg < len && out->len - at < limit ? wp_segment(wp, st, text + seg, len - seg, at, limit, out) : 0;
}

int fe_wp_encode(const fe_wp *wp, fe_wp_state *st, const char *const *texts, const int64_t *lens, int64_t n,
                 int64_t max_tokens, int64_t drop_id, fe_wp_ids *out, int64_t *counts, uint8_t *fallback) {
    if (st->owner != wp) {
        wp_cache_clear(st);
        st->owner = wp;
    }
    const int64_t limit = max_tokens < 0 ? INT64_MAX : max_tokens;
    for (int64_t t = 0; t < n; t++) {
        counts[t] = 0;
        fallback[t] = 0;
        int64_t before = out->len;
        int rc = wp_text(wp, st, texts[t], lens[t], limit, out);
        if (rc == -2) return -1;
        if (rc == -1) {
            out->len = before;
            fallback[t] = 1;
            continue;
        }
        if (out->len - before > limit) out->len = before + limit;
        if (drop_id >= 0) {
            int64_t w = before;
            for (int64_t j = before; j < out->len; j++)
                if (out->data[j] != drop_id) out->data[w++] = out->data[j];
            out->len = w;
        }
        counts[t] = out->len - before;
    }
    return 0;
}

int64_t fe_wp_split(const fe_wp *wp, const char *text, int64_t len, char **norm, int64_t *norm_len,
                    int64_t **spans) {
    fe_wp_state *st = fe_wp_state_new();
    if (!st) return -2;
    int64_t m = wp_prepare(wp, st, text, len);
    int64_t nw = 0, cap = 0, pos = 0, ws, nchars;
    int64_t *sp = NULL;
    if (m < 0) goto done;
    while (wp_next_word(wp, st->norm, m, &pos, &ws, &nchars)) {
        if (wp_reserve((void **)&sp, &cap, 2 * nw + 2, sizeof(int64_t))) {
            m = -2;
            goto done;
        }
        sp[2 * nw] = ws;
        sp[2 * nw + 1] = pos;
        nw++;
    }
    if (!st->norm && wp_reserve((void **)&st->norm, &st->norm_cap, 1, 1)) m = -2;
done:
    if (m < 0) {
        free(sp);
        fe_wp_state_free(st);
        return m;
    }
    *norm = st->norm;
    *norm_len = m;
    *spans = sp;
    st->norm = NULL;
    fe_wp_state_free(st);
    return nw;
}

/* libFuzzer + ASan/UBSan harness for the C WordPiece tokenizer (csrc/wordpiece.c), linked directly:
 * no Python, so the fuzzer's coverage is the C code itself.
 *
 * Input layout: byte 0 = normalizer flags (FE_WP_*), byte 1 = max_tokens (0: all), byte 2 = drop_id
 * (0: none), byte 3 = max_input_chars_per_word; then segments separated by 0xFF (never valid UTF-8).
 * The first segment, split at 0xFE, adds vocabulary entries (so fe_wp_new sees hostile vocabularies:
 * duplicates, empty pieces, invalid UTF-8) to a small fixed BERT-like vocabulary; the second, split at
 * 0xFE, gives added tokens (flags from their length: normalized, single_word, lstrip, rstrip); every other segment is a text. Checked beyond "no crash, no OOB, no UB":
 * counts add up to the ids written, fallback texts write nothing, every id is a vocabulary id,
 * max_tokens holds, drop_id never appears, and fe_wp_split agrees with fe_wp_encode on fallback.
 *
 *   fuzz/c/run.sh [seconds per target]        builds with clang and runs every fuzz/c/fuzz_*.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wordpiece.h"

#define MAX_PIECES 256
#define MAX_TEXTS 64

static const char *BASE[] = {"[UNK]", "[CLS]", "the", "quick", "brown", "fox", "un", "##able", "##s", "##ing",
                             "a", "##a", "b", "##b", "caf", "##e", "\xc3\xa9", "\xe6\x97\xa5", "\xe6\x9c\xac", ".",
                             ",", "!", "'", "##\xc3\xa9", "\xc3\xa0", "ß", "##ss", "0", "##1", "-"};
#define N_BASE ((int64_t)(sizeof(BASE) / sizeof(BASE[0])))

typedef struct {
    const uint8_t *p;
    size_t n;
} seg;

/* Splits data[0:n] at byte sep into at most max segments; returns the count. */
static int split(const uint8_t *data, size_t n, uint8_t sep, seg *out, int max) {
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && k < max; i++) {
        if (i == n || data[i] == sep) {
            out[k].p = data + start;
            out[k].n = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "fuzz_wordpiece: invariant broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    unsigned flags = data[0] & 31u;
    int64_t max_tokens = data[1] ? data[1] : -1;
    int64_t drop_id = data[2] ? data[2] % (N_BASE + 8) : -1;
    int64_t max_chars = data[3];
    seg parts[2 + MAX_TEXTS];
    int np = split(data + 4, size - 4, 0xFF, parts, 2 + MAX_TEXTS);

    /* vocabulary: BASE + the pieces of segment 0 */
    seg extra[MAX_PIECES], added[MAX_PIECES];
    int ne = np > 0 && parts[0].n ? split(parts[0].p, parts[0].n, 0xFE, extra, MAX_PIECES) : 0;
    int na = np > 1 && parts[1].n ? split(parts[1].p, parts[1].n, 0xFE, added, MAX_PIECES) : 0;
    int64_t nv = N_BASE + ne, blob_len = 0, added_len = 0;
    for (int i = 0; i < N_BASE; i++) blob_len += (int64_t)strlen(BASE[i]);
    for (int i = 0; i < ne; i++) blob_len += (int64_t)extra[i].n;
    for (int i = 0; i < na; i++) added_len += (int64_t)added[i].n;
    char *blob = malloc((size_t)blob_len + 1), *ablob = malloc((size_t)added_len + 1);
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(nv + 1)), *aoffs = malloc(sizeof(int64_t) * (size_t)(na + 1));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)nv);
    uint8_t *aflags = malloc((size_t)na + 1);
    int32_t *aids = malloc(sizeof(int32_t) * (size_t)(na + 1));
    int64_t pos = 0;
    offs[0] = 0;
    for (int64_t i = 0; i < nv; i++) {
        const char *s = i < N_BASE ? BASE[i] : (const char *)extra[i - N_BASE].p;
        size_t len = i < N_BASE ? strlen(BASE[i]) : extra[i - N_BASE].n;
        memcpy(blob + pos, s, len);
        pos += (int64_t)len;
        offs[i + 1] = pos;
        ids[i] = (int32_t)i;
    }
    pos = 0;
    aoffs[0] = 0;
    for (int i = 0; i < na; i++) {
        memcpy(ablob + pos, added[i].p, added[i].n);
        pos += (int64_t)added[i].n;
        aoffs[i + 1] = pos;
        aflags[i] = (uint8_t)(added[i].n & 15); /* normalized / single_word / lstrip / rstrip */
        aids[i] = (int32_t)(nv + i);
    }
    fe_wp *wp = fe_wp_new(blob, offs, ids, nv, "##", 2, 0, max_chars, flags, ablob, aoffs, aflags, aids, na);
    if (wp != NULL) {
        int nt = np > 2 ? np - 2 : 0;
        const char *texts[MAX_TEXTS];
        int64_t lens[MAX_TEXTS], counts[MAX_TEXTS];
        uint8_t fallback[MAX_TEXTS];
        for (int i = 0; i < nt; i++) {
            texts[i] = (const char *)parts[2 + i].p;
            lens[i] = (int64_t)parts[2 + i].n;
        }
        fe_wp_state *st = fe_wp_state_new();
        fe_wp_ids out = {NULL, 0, 0};
        if (st != NULL && fe_wp_encode(wp, st, texts, lens, nt, max_tokens, drop_id, &out, counts, fallback) == 0) {
            int64_t total = 0;
            for (int i = 0; i < nt; i++) {
                check(counts[i] >= 0, "count >= 0");
                check(!fallback[i] || counts[i] == 0, "a fallback text writes no ids");
                check(max_tokens < 0 || counts[i] <= max_tokens, "max_tokens holds");
                total += counts[i];
            }
            check(total == out.len, "counts add up to the ids written");
            for (int64_t j = 0; j < out.len; j++) {
                check(out.data[j] >= 0 && out.data[j] < nv + na, "ids are vocabulary or added-token ids");
                check(out.data[j] != drop_id, "drop_id is dropped");
            }
            for (int i = 0; i < nt; i++) {
                char *norm = NULL;
                int64_t norm_len = 0, *spans = NULL;
                int64_t words = fe_wp_split(wp, texts[i], lens[i], &norm, &norm_len, &spans);
                if (words >= 0) {
                    check(!fallback[i], "split succeeds only on a text encode did not send to fallback");
                    for (int64_t w = 0; w < words; w++)
                        check(0 <= spans[2 * w] && spans[2 * w] <= spans[2 * w + 1] && spans[2 * w + 1] <= norm_len,
                              "word spans lie inside the normalized text");
                }
                free(norm);
                free(spans);
            }
        }
        free(out.data);
        fe_wp_state_free(st);
        fe_wp_free(wp);
    }
    free(blob);
    free(ablob);
    free(offs);
    free(aoffs);
    free(ids);
    free(aflags);
    free(aids);
    return 0;
}

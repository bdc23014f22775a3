// The AVX-512 tree-walking kernel: the AVX2 kernel's block walk (ForestKernels.c) with 16 rows per
// 512-bit vector. Levels 0-4 of a tree (up to 16 nodes) come from one register and level 5 (32
// nodes) from two (permutes instead of gathers), so depth-6 trees gather only row values. Blocks of
// fewer than 16 rows go to the AVX2 kernel. Why it is kept: BENCHMARKS.md, "AVX-512 vs AVX2".
//
// Exactness: as the AVX2 kernel, per row the base margin plus each tree's leaf (times its DART
// weight, a separate multiply) in tree order in Float32.

#include "ForestKernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

int forest_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") ? 1 : 0;
}

#define AVX512 __attribute__((target("avx2,avx512f,avx512dq")))
#define BLOCK_ROWS 64
#define BLOCK_VECTORS (BLOCK_ROWS / 16)

/// XGBoost's numerical decision for 16 lanes: set where the lane goes left. Defaulting right: x < t
/// (false for NaN); defaulting left (sign bit of `split`): !(x >= t) (true for NaN).
static inline __attribute__((always_inline)) AVX512 __mmask16 numericLeft16(__m512i split, __m512 threshold, __m512 x) {
    const __mmask16 less = _mm512_cmp_ps_mask(x, threshold, _CMP_LT_OQ);
    const __mmask16 notGreaterEqual = _mm512_cmp_ps_mask(x, threshold, _CMP_NGE_UQ);
    const __mmask16 defaultLeft = _mm512_movepi32_mask(split);
    return (__mmask16)((less & ~defaultLeft) | (notGreaterEqual & defaultLeft));
}

/// The categorical rule of the AVX2 kernel's `mixedLeft`, for 16 lanes (bit 30 of `split` marks a
/// categorical node; `threshold` then holds the index of its table in `words`).
static inline __attribute__((always_inline)) AVX512 __mmask16 mixedLeft16(__m512i split, __m512 threshold, __m512 x,
                                                                          const int32_t *words) {
    const __mmask16 left = numericLeft16(split, threshold, x);
    const __mmask16 categorical = _mm512_test_epi32_mask(split, _mm512_set1_epi32(1 << 30));
    if (categorical == 0) return left;
    const __m512i one = _mm512_set1_epi32(1);
    // Ordered compares: false for NaN, so NaN and ±inf are not valid categories.
    const __mmask16 valid = (__mmask16)(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ) &
                                        _mm512_cmp_ps_mask(x, _mm512_set1_ps(16777216.0f), _CMP_LT_OQ));
    const __m512i category = _mm512_cvttps_epi32(_mm512_maskz_mov_ps(valid, x));
    const __m512i offset = _mm512_maskz_mov_epi32(categorical, _mm512_castps_si512(threshold));
    const __m512i wordCount = _mm512_i32gather_epi32(offset, words, 4);
    const __m512i word = _mm512_srli_epi32(category, 5);
    const __mmask16 inRange = (__mmask16)(valid & categorical & _mm512_cmpgt_epi32_mask(wordCount, word));
    const __m512i wordIndex = _mm512_add_epi32(offset, _mm512_maskz_add_epi32(inRange, word, one));
    const __m512i bits = _mm512_i32gather_epi32(wordIndex, words, 4);
    const __m512i bit = _mm512_srlv_epi32(bits, _mm512_and_si512(category, _mm512_set1_epi32(31)));
    const __mmask16 inSet = (__mmask16)(inRange & _mm512_test_epi32_mask(bit, one));
    const __mmask16 missing = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    const __mmask16 defaultLeft = _mm512_movepi32_mask(split);
    const __mmask16 categoricalLeft = (__mmask16)((missing & defaultLeft) | (~missing & ~inSet));
    return (__mmask16)((categorical & categoricalLeft) | (~categorical & left));
}

/// The child's position in the next level: 2j when the lane goes left, 2j + 1 otherwise.
static inline __attribute__((always_inline)) AVX512 __m512i step16(__m512i position, __m512i split, __m512 threshold,
                                                                   __m512 x, const int32_t *words) {
    const __mmask16 left = words ? mixedLeft16(split, threshold, x, words) : numericLeft16(split, threshold, x);
    const __m512i twice = _mm512_add_epi32(position, position);
    return _mm512_mask_blend_epi32(left, _mm512_add_epi32(twice, _mm512_set1_epi32(1)), twice);
}

static inline __attribute__((always_inline)) AVX512 void walkTree16(const forest_perfect_model *model, int64_t tree,
                                                                    const float *rows, const __m512i *rowOffsets,
                                                                    int vectors, __m512 *leafValues, const int32_t *words) {
    const uint32_t depth = model->depths[tree];
    const int32_t *splits = (const int32_t *)model->splits + model->nodeStarts[tree];
    const float *thresholds = model->thresholds + model->nodeStarts[tree];
    const __m512i featureMask = _mm512_set1_epi32(0x3FFFFFFF);
    __m512i position[BLOCK_VECTORS];
    for (int v = 0; v < vectors; v++) position[v] = _mm512_setzero_si512();
    uint32_t level = 0;
    // Levels of at most 16 nodes: one register, a permute picks each lane's node. Masked loads read
    // only the level's nodes (a shallow last tree has fewer than 16 entries left in the arrays).
    for (; level < depth && level <= 4; level++) {
        const int32_t levelStart = (1 << level) - 1;
        const __mmask16 nodes = (__mmask16)((1u << (1u << level)) - 1u);
        const __m512i levelSplits = _mm512_maskz_loadu_epi32(nodes, splits + levelStart);
        const __m512 levelThresholds = _mm512_maskz_loadu_ps(nodes, thresholds + levelStart);
        for (int v = 0; v < vectors; v++) {
            const __m512i split = _mm512_permutexvar_epi32(position[v], levelSplits);
            const __m512 threshold = _mm512_permutexvar_ps(position[v], levelThresholds);
            const __m512i feature = _mm512_add_epi32(rowOffsets[v], _mm512_and_si512(split, featureMask));
            const __m512 x = _mm512_i32gather_ps(feature, rows, 4);
            position[v] = step16(position[v], split, threshold, x, words);
        }
    }
    // Level 5 (32 nodes): two registers, one two-source permute.
    if (level < depth && level == 5) {
        const int32_t levelStart = 31;
        const __m512i splitsLow = _mm512_loadu_si512(splits + levelStart);
        const __m512i splitsHigh = _mm512_loadu_si512(splits + levelStart + 16);
        const __m512 thresholdsLow = _mm512_loadu_ps(thresholds + levelStart);
        const __m512 thresholdsHigh = _mm512_loadu_ps(thresholds + levelStart + 16);
        for (int v = 0; v < vectors; v++) {
            const __m512i split = _mm512_permutex2var_epi32(splitsLow, position[v], splitsHigh);
            const __m512 threshold = _mm512_permutex2var_ps(thresholdsLow, position[v], thresholdsHigh);
            const __m512i feature = _mm512_add_epi32(rowOffsets[v], _mm512_and_si512(split, featureMask));
            const __m512 x = _mm512_i32gather_ps(feature, rows, 4);
            position[v] = step16(position[v], split, threshold, x, words);
        }
        level++;
    }
    // Deeper levels: gather each lane's node.
    for (; level < depth; level++) {
        const int32_t levelStart = (1 << level) - 1;
        for (int v = 0; v < vectors; v++) {
            const __m512i split = _mm512_i32gather_epi32(position[v], splits + levelStart, 4);
            const __m512 threshold = _mm512_i32gather_ps(position[v], thresholds + levelStart, 4);
            const __m512i feature = _mm512_add_epi32(rowOffsets[v], _mm512_and_si512(split, featureMask));
            const __m512 x = _mm512_i32gather_ps(feature, rows, 4);
            position[v] = step16(position[v], split, threshold, x, words);
        }
    }
    const float *leaves = model->leaves + model->leafStarts[tree];
    for (int v = 0; v < vectors; v++) leafValues[v] = _mm512_i32gather_ps(position[v], leaves, 4);
}

static AVX512 void marginsOfBlock16(const forest_perfect_model *model, const float *rows, int rowCount,
                                    float *margins, float *scratch) {
    const int64_t groups = model->groupCount;
    const int vectors = (rowCount + 15) / 16;
    __m512i rowOffsets[BLOCK_VECTORS];
    for (int v = 0; v < vectors; v++) {
        int32_t offsets[16];
        for (int lane = 0; lane < 16; lane++) {
            const int row = v * 16 + lane;
            // Lanes past the last row re-read the last row; their results are dropped.
            offsets[lane] = (int32_t)((row < rowCount ? row : rowCount - 1) * model->featureCount);
        }
        rowOffsets[v] = _mm512_loadu_si512(offsets);
    }
    for (int64_t group = 0; group < groups; group++) {
        const __m512 base = _mm512_set1_ps(model->baseMargins[group]);
        for (int v = 0; v < vectors; v++) _mm512_storeu_ps(scratch + group * BLOCK_ROWS + v * 16, base);
    }
    __m512 leafValues[BLOCK_VECTORS];
    for (int64_t tree = 0; tree < model->treeCount; tree++) {
        if (model->categoryWords) {
            walkTree16(model, tree, rows, rowOffsets, vectors, leafValues, (const int32_t *)model->categoryWords);
        } else {
            walkTree16(model, tree, rows, rowOffsets, vectors, leafValues, NULL);
        }
        float *sums = scratch + (int64_t)model->groups[tree] * BLOCK_ROWS;
        if (model->weights) {
            const __m512 weight = _mm512_set1_ps(model->weights[tree]);
            for (int v = 0; v < vectors; v++) leafValues[v] = _mm512_mul_ps(leafValues[v], weight);
        }
        for (int v = 0; v < vectors; v++) {
            _mm512_storeu_ps(sums + v * 16, _mm512_add_ps(_mm512_loadu_ps(sums + v * 16), leafValues[v]));
        }
    }
    for (int row = 0; row < rowCount; row++) {
        for (int64_t group = 0; group < groups; group++) margins[row * groups + group] = scratch[group * BLOCK_ROWS + row];
    }
}

void forest_avx512_margins(const forest_perfect_model *model, const float *rows, int64_t rowCount,
                           float *margins, float *scratch) {
    const int64_t groups = model->groupCount;
    int64_t start = 0;
    for (; rowCount - start >= 16; start += BLOCK_ROWS) {
        int64_t count = rowCount - start < BLOCK_ROWS ? rowCount - start : BLOCK_ROWS;
        // A tail of fewer than 16 rows after whole vectors stays in this block's last vector.
        marginsOfBlock16(model, rows + start * model->featureCount, (int)count, margins + start * groups, scratch);
    }
    if (start < rowCount) {
        forest_avx2_margins(model, rows + start * model->featureCount, rowCount - start, margins + start * groups, scratch);
    }
}

#else

int forest_avx512_available(void) { return 0; }

void forest_avx512_margins(const forest_perfect_model *model, const float *rows, int64_t rowCount,
                           float *margins, float *scratch) {
    (void)model; (void)rows; (void)rowCount; (void)margins; (void)scratch;
}

#endif

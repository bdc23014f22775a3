// The AVX2 tree-walking kernel of the Forest evaluator.
//
// Hand-written hot path, justified by benchmarks/evaluator_vs_xgboost.py (BENCHMARKS.md, "Evaluator
// vs XGBoost"): the portable Swift kernel walks one row per step; this one walks 8 rows (or, for a
// single row, 8 trees) per 256-bit vector, takes the top levels of each tree from registers
// (permutes instead of loads) and gathers only the row values and the deep levels. Swift cannot
// compile one function for AVX2 behind a runtime check, hence this small C target; the Swift
// kernels stay the oracle and the fallback (other CPUs, other architectures, very deep or sparse
// trees). Categorical splits are decided in the vector lanes too (`mixedLeft`), so models like
// install-v1 stay on this kernel (BENCHMARKS.md, "Production model with categorical splits").
//
// Exactness: per row the margin starts at the base margin and each tree's leaf (times its DART
// weight, a separate multiply, never fused) is added in tree order in Float32, like XGBoost.

#include "ForestKernels.h"

#if defined(__x86_64__) || defined(_M_X64)

#include <immintrin.h>

int forest_avx2_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}

#define AVX2 __attribute__((target("avx2")))
#define BLOCK_ROWS 64
#define BLOCK_VECTORS (BLOCK_ROWS / 8)

/// XGBoost's numerical decision for 8 lanes: all ones where the lane goes left.
static inline AVX2 __m256i numericLeft(__m256i split, __m256 threshold, __m256 x) {
    // x < t (false for NaN) when the node defaults right; !(x >= t) (true for NaN) when it
    // defaults left. blendv picks by the sign bit of `split`, which is the default-left flag.
    __m256 less = _mm256_cmp_ps(x, threshold, _CMP_LT_OQ);
    __m256 notGreaterEqual = _mm256_cmp_ps(x, threshold, _CMP_NGE_UQ);
    return _mm256_castps_si256(_mm256_blendv_ps(less, notGreaterEqual, _mm256_castsi256_ps(split)));
}

/// XGBoost's decision for 8 lanes whose nodes may be categorical (bit 30 of `split`): all ones
/// where the lane goes left. A categorical lane: NaN takes the default direction; a value that is
/// negative, at least 2^24 (or ±inf) or whose category (the value truncated) lies beyond the
/// node's bitset goes left; otherwise right iff the category is in the set. `threshold` holds the
/// index of the node's table in `words` (length word, then bit words). Every gather stays inside
/// `words`: numerical lanes read word 0, out-of-range categories their table's length word.
static inline __attribute__((always_inline)) AVX2 __m256i mixedLeft(__m256i split, __m256 threshold, __m256 x,
                                                                    const int32_t *words) {
    const __m256i left = numericLeft(split, threshold, x);
    const __m256i categorical = _mm256_srai_epi32(_mm256_slli_epi32(split, 1), 31);
    if (_mm256_testz_si256(categorical, categorical)) return left;
    const __m256i one = _mm256_set1_epi32(1);
    // Ordered compares: false for NaN, so NaN and ±inf are not valid categories.
    const __m256 valid = _mm256_and_ps(_mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ),
                                       _mm256_cmp_ps(x, _mm256_set1_ps(16777216.0f), _CMP_LT_OQ));
    // Invalid lanes convert +0 instead of x (no out-of-range conversion); cvtt truncates like C.
    const __m256i category = _mm256_cvttps_epi32(_mm256_and_ps(x, valid));
    const __m256i offset = _mm256_and_si256(_mm256_castps_si256(threshold), categorical);
    const __m256i wordCount = _mm256_i32gather_epi32(words, offset, 4);
    const __m256i word = _mm256_srli_epi32(category, 5);
    const __m256i inRange = _mm256_and_si256(_mm256_and_si256(_mm256_castps_si256(valid), categorical),
                                             _mm256_cmpgt_epi32(wordCount, word));
    const __m256i wordIndex = _mm256_add_epi32(offset, _mm256_and_si256(inRange, _mm256_add_epi32(word, one)));
    const __m256i bits = _mm256_i32gather_epi32(words, wordIndex, 4);
    const __m256i bit = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_and_si256(category, _mm256_set1_epi32(31))), one);
    const __m256i inSet = _mm256_and_si256(inRange, _mm256_cmpeq_epi32(bit, one));
    const __m256i notInSet = _mm256_xor_si256(inSet, _mm256_set1_epi32(-1));
    const __m256 missing = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    const __m256i defaultLeft = _mm256_srai_epi32(split, 31);
    const __m256i categoricalLeft = _mm256_castps_si256(_mm256_blendv_ps(
        _mm256_castsi256_ps(notInSet), _mm256_castsi256_ps(defaultLeft), missing));
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(left), _mm256_castsi256_ps(categoricalLeft),
                                                _mm256_castsi256_ps(categorical)));
}

/// One step for 8 lanes: `split` and `threshold` of each lane's node, `x` its feature value; returns
/// the child's position in the next level (2j for left, 2j + 1 for right). `words` is NULL for a
/// numerical forest (a compile-time constant once inlined, so that kernel has no categorical code).
static inline __attribute__((always_inline)) AVX2 __m256i step(__m256i position, __m256i split, __m256 threshold,
                                                               __m256 x, const int32_t *words) {
    __m256i left = words ? mixedLeft(split, threshold, x, words) : numericLeft(split, threshold, x);
    // left is -1 (all ones) or 0: 2j + 1 + left.
    return _mm256_add_epi32(_mm256_add_epi32(position, position), _mm256_add_epi32(_mm256_set1_epi32(1), left));
}

// MARK: - Many rows: 8 rows per vector, one tree at a time

/// Walks one tree for up to 64 rows. `words` is the model's category table or NULL (numerical
/// forest); always inlined into callers that pass a constant NULL or not, so each gets its own loop.
static inline __attribute__((always_inline)) AVX2 void walkTree(const forest_perfect_model *model, int64_t tree,
                                                                const float *rows, const __m256i *rowOffsets,
                                                                int vectors, __m256 *leafValues, const int32_t *words) {
    const uint32_t depth = model->depths[tree];
    const int32_t *splits = (const int32_t *)model->splits + model->nodeStarts[tree];
    const float *thresholds = model->thresholds + model->nodeStarts[tree];
    const __m256i featureMask = _mm256_set1_epi32(0x3FFFFFFF);
    __m256i position[BLOCK_VECTORS];
    for (int v = 0; v < vectors; v++) position[v] = _mm256_setzero_si256();
    uint32_t level = 0;
    // Levels with at most 8 nodes: one register holds the level, a permute picks each lane's node.
    for (; level < depth && level <= 3; level++) {
        const int32_t levelStart = (1 << level) - 1;
        __m256i levelSplits = _mm256_loadu_si256((const __m256i *)(splits + levelStart));
        __m256 levelThresholds = _mm256_loadu_ps(thresholds + levelStart);
        for (int v = 0; v < vectors; v++) {
            __m256i split = _mm256_permutevar8x32_epi32(levelSplits, position[v]);
            __m256 threshold = _mm256_permutevar8x32_ps(levelThresholds, position[v]);
            __m256i feature = _mm256_add_epi32(rowOffsets[v], _mm256_and_si256(split, featureMask));
            __m256 x = _mm256_i32gather_ps(rows, feature, 4);
            position[v] = step(position[v], split, threshold, x, words);
        }
    }
    // Level 4 (16 nodes): two registers, picked by bit 3 of the position.
    if (level < depth && level == 4) {
        const int32_t levelStart = 15;
        __m256i splitsLow = _mm256_loadu_si256((const __m256i *)(splits + levelStart));
        __m256i splitsHigh = _mm256_loadu_si256((const __m256i *)(splits + levelStart + 8));
        __m256 thresholdsLow = _mm256_loadu_ps(thresholds + levelStart);
        __m256 thresholdsHigh = _mm256_loadu_ps(thresholds + levelStart + 8);
        for (int v = 0; v < vectors; v++) {
            __m256 high = _mm256_castsi256_ps(_mm256_slli_epi32(position[v], 28));
            __m256i split = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(splitsLow, position[v])),
                _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(splitsHigh, position[v])), high));
            __m256 threshold = _mm256_blendv_ps(_mm256_permutevar8x32_ps(thresholdsLow, position[v]),
                                                _mm256_permutevar8x32_ps(thresholdsHigh, position[v]), high);
            __m256i feature = _mm256_add_epi32(rowOffsets[v], _mm256_and_si256(split, featureMask));
            __m256 x = _mm256_i32gather_ps(rows, feature, 4);
            position[v] = step(position[v], split, threshold, x, words);
        }
        level++;
    }
    // Deeper levels: gather each lane's node.
    for (; level < depth; level++) {
        const int32_t levelStart = (1 << level) - 1;
        for (int v = 0; v < vectors; v++) {
            __m256i split = _mm256_i32gather_epi32(splits + levelStart, position[v], 4);
            __m256 threshold = _mm256_i32gather_ps(thresholds + levelStart, position[v], 4);
            __m256i feature = _mm256_add_epi32(rowOffsets[v], _mm256_and_si256(split, featureMask));
            __m256 x = _mm256_i32gather_ps(rows, feature, 4);
            position[v] = step(position[v], split, threshold, x, words);
        }
    }
    const float *leaves = model->leaves + model->leafStarts[tree];
    for (int v = 0; v < vectors; v++) leafValues[v] = _mm256_i32gather_ps(leaves, position[v], 4);
}

static AVX2 void marginsOfBlock(const forest_perfect_model *model, const float *rows, int rowCount,
                                float *margins, float *scratch) {
    const int64_t groups = model->groupCount;
    const int vectors = (rowCount + 7) / 8;
    __m256i rowOffsets[BLOCK_VECTORS];
    for (int v = 0; v < vectors; v++) {
        int32_t offsets[8];
        for (int lane = 0; lane < 8; lane++) {
            int row = v * 8 + lane;
            // Lanes past the last row re-read the last row; their results are dropped.
            offsets[lane] = (int32_t)((row < rowCount ? row : rowCount - 1) * model->featureCount);
        }
        rowOffsets[v] = _mm256_loadu_si256((const __m256i *)offsets);
    }
    for (int64_t group = 0; group < groups; group++) {
        __m256 base = _mm256_set1_ps(model->baseMargins[group]);
        for (int v = 0; v < vectors; v++) _mm256_storeu_ps(scratch + group * BLOCK_ROWS + v * 8, base);
    }
    __m256 leafValues[BLOCK_VECTORS];
    for (int64_t tree = 0; tree < model->treeCount; tree++) {
        if (model->categoryWords) {
            walkTree(model, tree, rows, rowOffsets, vectors, leafValues, (const int32_t *)model->categoryWords);
        } else {
            walkTree(model, tree, rows, rowOffsets, vectors, leafValues, NULL);
        }
        float *sums = scratch + (int64_t)model->groups[tree] * BLOCK_ROWS;
        if (model->weights) {
            __m256 weight = _mm256_set1_ps(model->weights[tree]);
            for (int v = 0; v < vectors; v++) leafValues[v] = _mm256_mul_ps(leafValues[v], weight);
        }
        for (int v = 0; v < vectors; v++) {
            _mm256_storeu_ps(sums + v * 8, _mm256_add_ps(_mm256_loadu_ps(sums + v * 8), leafValues[v]));
        }
    }
    for (int row = 0; row < rowCount; row++) {
        for (int64_t group = 0; group < groups; group++) margins[row * groups + group] = scratch[group * BLOCK_ROWS + row];
    }
}

// MARK: - One row: 8 trees per vector

#define ROW_TREE_VECTORS 8
#define ROW_TREES (ROW_TREE_VECTORS * 8)

static AVX2 void marginsOfRow(const forest_perfect_model *model, const float *row, float *margins) {
    const int64_t groups = model->groupCount;
    for (int64_t group = 0; group < groups; group++) margins[group] = model->baseMargins[group];
    const __m256i featureMask = _mm256_set1_epi32(0x3FFFFFFF);
    const __m256i laneIndex = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t *allSplits = (const int32_t *)model->splits;
    const int32_t *words = (const int32_t *)model->categoryWords;
    float leafBuffer[ROW_TREES];
    for (int64_t first = 0; first < model->treeCount; first += ROW_TREES) {
        const int64_t remaining = model->treeCount - first;
        const int chunk = remaining < ROW_TREES ? (int)remaining : ROW_TREES;
        const int vectors = (chunk + 7) / 8;
        __m256i nodeStart[ROW_TREE_VECTORS], depth[ROW_TREE_VECTORS], position[ROW_TREE_VECTORS];
        uint32_t maximumDepth = 0;
        for (int v = 0; v < vectors; v++) {
            const int64_t tree = first + v * 8;
            const int lanes = chunk - v * 8 < 8 ? chunk - v * 8 : 8;
            __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), laneIndex);
            // Lanes past the last tree get depth 0 and read nothing.
            nodeStart[v] = _mm256_maskload_epi32((const int *)model->nodeStarts + tree, live);
            depth[v] = _mm256_maskload_epi32((const int *)model->depths + tree, live);
            position[v] = _mm256_setzero_si256();
            for (int lane = 0; lane < lanes; lane++) {
                if (model->depths[tree + lane] > maximumDepth) maximumDepth = model->depths[tree + lane];
            }
        }
        for (uint32_t level = 0; level < maximumDepth; level++) {
            const __m256i levelStart = _mm256_set1_epi32((1 << level) - 1);
            const __m256i levelNumber = _mm256_set1_epi32((int)level);
            for (int v = 0; v < vectors; v++) {
                // Lanes whose tree is shallower than this level have reached their leaf.
                __m256i active = _mm256_cmpgt_epi32(depth[v], levelNumber);
                __m256i node = _mm256_add_epi32(_mm256_add_epi32(nodeStart[v], levelStart), position[v]);
                __m256i split = _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), allSplits, node, active, 4);
                __m256 threshold = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), model->thresholds, node,
                                                            _mm256_castsi256_ps(active), 4);
                __m256 x = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, _mm256_and_si256(split, featureMask),
                                                    _mm256_castsi256_ps(active), 4);
                __m256i next = step(position[v], split, threshold, x, words);
                position[v] = _mm256_blendv_epi8(position[v], next, active);
            }
        }
        for (int v = 0; v < vectors; v++) {
            const int64_t tree = first + v * 8;
            const int lanes = chunk - v * 8 < 8 ? chunk - v * 8 : 8;
            __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), laneIndex);
            __m256i leafStart = _mm256_maskload_epi32((const int *)model->leafStarts + tree, live);
            __m256 leaf = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), model->leaves,
                                                   _mm256_add_epi32(leafStart, position[v]), _mm256_castsi256_ps(live), 4);
            if (model->weights) leaf = _mm256_mul_ps(leaf, _mm256_maskload_ps(model->weights + tree, live));
            _mm256_storeu_ps(leafBuffer + v * 8, leaf);
        }
        // Tree order, one add at a time: the exact Float32 sum XGBoost computes.
        if (groups == 1) {
            float sum = margins[0];
            for (int index = 0; index < chunk; index++) sum += leafBuffer[index];
            margins[0] = sum;
        } else {
            for (int index = 0; index < chunk; index++) margins[model->groups[first + index]] += leafBuffer[index];
        }
    }
}

void forest_avx2_margins(const forest_perfect_model *model, const float *rows, int64_t rowCount,
                         float *margins, float *scratch) {
    const int64_t groups = model->groupCount;
    int64_t start = 0;
    // Fewer than 8 rows would leave most lanes of a row vector idle: walk 8 trees at once instead.
    if (rowCount < 8) {
        for (; start < rowCount; start++) marginsOfRow(model, rows + start * model->featureCount, margins + start * groups);
        return;
    }
    for (; start < rowCount; start += BLOCK_ROWS) {
        int64_t count = rowCount - start < BLOCK_ROWS ? rowCount - start : BLOCK_ROWS;
        marginsOfBlock(model, rows + start * model->featureCount, (int)count, margins + start * groups, scratch);
    }
}

#else

int forest_avx2_available(void) { return 0; }

void forest_avx2_margins(const forest_perfect_model *model, const float *rows, int64_t rowCount,
                         float *margins, float *scratch) {
    (void)model; (void)rows; (void)rowCount; (void)margins; (void)scratch;
}

#endif

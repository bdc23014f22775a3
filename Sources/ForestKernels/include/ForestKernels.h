#ifndef FOREST_KERNELS_H
#define FOREST_KERNELS_H

#include <stdint.h>

#include "ForestSHAP.h"  // TreeSHAP kernel (same module)

/// A forest of trees, each stored as a perfect binary tree of its depth in level order
/// (node j of level L at index 2^L - 1 + j; its children are 2j and 2j + 1 of level L + 1), with
/// the 2^depth leaves in a separate array. Built and owned by the Swift `Forest` target; this
/// struct only borrows its arrays for the duration of one call.
///
/// `splits`, `thresholds` and `leaves` must be readable 8 entries past their last element (the
/// kernel loads whole 8-lane vectors of a tree's top levels).
typedef struct {
    const uint32_t *splits;       ///< per node: feature index | (categorical << 30) | (default-left << 31)
    const float *thresholds;      ///< per node: go left iff x < threshold (NaN: default direction);
                                  ///< categorical node: the bit pattern of its table's index in categoryWords
    const uint32_t *categoryWords;///< per categorical node: word count, then the bitset of the categories
                                  ///< that go right; NULL when the forest has no categorical split
    const float *leaves;          ///< per leaf: leaf value
    const uint32_t *nodeStarts;   ///< per tree: index of its root in splits/thresholds
    const uint32_t *leafStarts;   ///< per tree: index of its first leaf in leaves
    const uint32_t *depths;       ///< per tree: depth (0 = a single leaf)
    const uint32_t *groups;       ///< per tree: output group the leaf is added to
    const float *weights;         ///< per tree DART weight, or NULL when every weight is 1
    const float *baseMargins;     ///< per group: initial margin
    int64_t treeCount;
    int64_t groupCount;
    int64_t featureCount;         ///< row stride; featureCount * 64 must fit in int32
} forest_perfect_model;

/// 1 when this CPU can run the AVX2 kernel (x86-64 with AVX2), 0 otherwise (other architectures
/// always 0: callers use the portable Swift kernel).
int forest_avx2_available(void);

/// Margins of `rowCount` rows (row-major, `featureCount` Float32 each, NaN = missing) into
/// `margins` (row-major, `groupCount` per row): base margin, then each tree's leaf (times its
/// weight) added in tree order in Float32, exactly as XGBoost does.
///
/// `scratch` needs room for `groupCount * 64` floats. Only call when `forest_avx2_available()`.
void forest_avx2_margins(const forest_perfect_model *model, const float *rows, int64_t rowCount,
                         float *margins, float *scratch);

#endif

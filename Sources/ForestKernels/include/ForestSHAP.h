#ifndef FOREST_SHAP_H
#define FOREST_SHAP_H

#include <stdint.h>

/// A forest compiled for TreeSHAP (built and owned by the Swift `TreeExplainer`; this struct only
/// borrows its arrays for one call). Nodes are in pre-order, left subtree first, every tree after
/// the previous one, so a node's left child is the next node.
typedef struct {
    // Per node.
    const uint32_t *splits;          ///< feature | categorical << 30 | default-left << 31
    const float *values;             ///< threshold; categorical: bit pattern of its table's index; leaf: value
    const int32_t *rights;           ///< absolute index of the right child, -1 for a leaf
    const int16_t *levels;           ///< edges from the tree's root
    const int16_t *extensionDepths;  ///< unique-path length of the parent (after unwinding): where this node extends it
    const float *extensionZeros;     ///< zero fraction of the element this node adds (cover ratio x incoming zero)
    const uint8_t *isLeft;           ///< 1 when the node is its parent's left child
    const int16_t *repeats;          ///< split node: index on its unique path of the element with its feature, or -1
    const int32_t *leafCounts;       ///< leaves in the node's subtree
    const uint32_t *categoryWords;   ///< category tables, NULL when the forest has no categorical split
    // Per leaf, in pre-order, every tree after the previous one.
    const int32_t *leafFeatureStarts;///< leafFeatures[start ..< start + depth]: features of path elements 1...depth
    const int32_t *leafFeatures;
    // Per tree.
    const int32_t *nodeStarts;       ///< treeCount + 1 entries
    const int32_t *leafStarts;       ///< treeCount + 1 entries
    const float *expectedValues;
    const int32_t *groups;
    const float *weights;            ///< DART weights, NULL for gbtree
    const int32_t *featureStarts;    ///< treeCount + 1 entries into treeFeatures
    const int32_t *treeFeatures;     ///< distinct features each tree splits on
    const float *baseMargins;        ///< per output
    int64_t treeCount;
    int64_t groupCount;
    int64_t featureCount;
    int64_t maximumDepth;            ///< longest root-to-leaf path, in edges
    int64_t maximumLeaves;           ///< most leaves in one tree
    int64_t maximumTerms;            ///< most leaf path elements (sum of leaf depths) in one tree
} forest_shap_model;

/// Lanes (rows per block) of the best TreeSHAP kernel this CPU runs: 16 (AVX-512 F/BW/DQ/VL),
/// 8 (AVX2), or 0 (none: callers use the Swift explainer).
int forest_shap_lanes(void);

/// Bytes of scratch space `forest_shap_contributions` needs for `model` with `lanes` lanes.
int64_t forest_shap_scratch_bytes(const forest_shap_model *model, int lanes);

/// TreeSHAP contributions of `rowCount` rows (row-major, `featureCount` Float32 each, NaN =
/// missing) into `output` (row-major, `groupCount * (featureCount + 1)` per row, overwritten),
/// equal to XGBoost's `pred_contribs` bit for bit. `lanes` must be what `forest_shap_lanes`
/// returned (or 8 on an AVX-512 CPU); `scratch` holds `forest_shap_scratch_bytes` bytes,
/// 64-byte aligned.
void forest_shap_contributions(const forest_shap_model *model, int lanes, const float *rows, int64_t rowCount,
                               float *output, void *scratch);

#endif

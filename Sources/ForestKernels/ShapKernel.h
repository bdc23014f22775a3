// The TreeSHAP kernel body, included by ForestSHAP.c once per vector width with
// LANES (rows per block), NAME(x) (suffixes a symbol) and TARGET (the function attribute).
//
// Exactness: every lane performs XGBoost's Float32 operations in XGBoost's order (see the Swift
// ReferenceExplainer); where XGBoost branches on a lane's value (a path element's "one" fraction),
// both sides are computed and the lane's own side is selected. Contraction into FMA is off for
// this file (ForestSHAP.c).

typedef float NAME(vfloat) __attribute__((vector_size(LANES * 4)));
typedef int32_t NAME(vint) __attribute__((vector_size(LANES * 4)));
#define VF NAME(vfloat)
#define VI NAME(vint)

static inline __attribute__((always_inline)) TARGET VF NAME(splat)(float x) {
    VF v;
    for (int lane = 0; lane < LANES; lane++) v[lane] = x;
    return v;
}

static inline __attribute__((always_inline)) TARGET VI NAME(splati)(int32_t x) {
    VI v;
    for (int lane = 0; lane < LANES; lane++) v[lane] = x;
    return v;
}

/// `mask ? a : b` per lane (mask lanes all ones or all zeros).
static inline __attribute__((always_inline)) TARGET VF NAME(select)(VI mask, VF a, VF b) {
    return (VF)(((VI)a & mask) | ((VI)b & ~mask));
}

/// `x / divisor` for a divisor the same in every lane. A power of two divides exactly as a
/// multiplication by its reciprocal (the same real number, rounded once), which is several times
/// cheaper than a vector division; other divisors divide.
static inline __attribute__((always_inline)) TARGET VF NAME(divide)(VF x, float divisor) {
    return forest_shap_is_power_of_two(divisor) ? x * NAME(splat)(1.0f / divisor) : x / NAME(splat)(divisor);
}

/// XGBoost's `ExtendPath` at element `depth` of a path (weights `w`, ones `o`, zeros `z`).
static inline __attribute__((always_inline)) TARGET void NAME(extend)(VF *w, VF *o, float *z, int depth, float zero, VF one) {
    z[depth] = zero;
    o[depth] = one;
    w[depth] = NAME(splat)(depth == 0 ? 1.0f : 0.0f);
    const float size = (float)(depth + 1);
    const VF zeroVector = NAME(splat)(zero);
    for (int i = depth - 1; i >= 0; i--) {
        w[i + 1] += NAME(divide)(one * w[i] * NAME(splat)((float)(i + 1)), size);
        w[i] = NAME(divide)(zeroVector * w[i] * NAME(splat)((float)(depth - i)), size);
    }
}

/// XGBoost's `UnwindPath` of element `index` from a path of `depth + 1` elements. Lanes whose
/// element has one fraction 1 take XGBoost's first branch, the others the second (whose
/// divisor is the same in every lane).
static inline __attribute__((always_inline)) TARGET void NAME(unwind)(VF *w, VF *o, float *z, int depth, int index) {
    const VF one = o[index];
    const VI isOne = one != NAME(splat)(0.0f);
    const float zero = z[index];
    const VF zeroVector = NAME(splat)(zero);
    const float size = (float)(depth + 1);
    const VF sizeVector = NAME(splat)(size);
    VF next = w[depth];
    for (int i = depth - 1; i >= 0; i--) {
        const VF saved = w[i];
        const VF fromOne = NAME(divide)(next * sizeVector, (float)(i + 1));
        const VF fromZero = NAME(divide)(saved * sizeVector, zero * (float)(depth - i));
        w[i] = NAME(select)(isOne, fromOne, fromZero);
        next = saved - NAME(divide)(fromOne * zeroVector * NAME(splat)((float)(depth - i)), size);
    }
    for (int i = index; i < depth; i++) {
        z[i] = z[i + 1];
        o[i] = o[i + 1];
    }
}

/// XGBoost's `UnwoundPathSum` for every element 1...depth of a leaf's path, times
/// `(one - zero) * leaf`: the leaf's contribution to each element's feature. The elements'
/// sums are independent chains, advanced together so their divisions overlap. A lane whose
/// element has one fraction 1 takes XGBoost's first branch (`part` divides by `i + 1`, the
/// lane's one fraction), a lane with 0 the second; both are computed and each lane keeps its own.
static inline __attribute__((always_inline)) TARGET void NAME(leafTerms)(const VF *w, const VF *o, const float *z, int depth,
                                                                         float leaf, VF *terms) {
    VF next[FOREST_SHAP_MAX_UNIQUE], totalOne[FOREST_SHAP_MAX_UNIQUE], totalZero[FOREST_SHAP_MAX_UNIQUE];
    const float size = (float)(depth + 1);
    const VF sizeVector = NAME(splat)(size);
    for (int index = 1; index <= depth; index++) {
        next[index] = w[depth] * sizeVector;
        totalOne[index] = NAME(splat)(0.0f);
        totalZero[index] = NAME(splat)(0.0f);
    }
    for (int i = depth - 1; i >= 0; i--) {
        const float position = (float)(i + 1);
        const float share = (float)(depth - i) / size;
        const VF shareVector = NAME(splat)(share);
        for (int index = 1; index <= depth; index++) {
            const VF zero = NAME(splat)(z[index]);
            // XGBoost: next * (depth + 1) / ((i + 1) * one). In the lanes that use it one is 1,
            // so the divisor is i + 1 (next * size is kept in next).
            const VF part = NAME(divide)(next[index], position);
            totalOne[index] += part;
            next[index] = (w[i] - part * zero * shareVector) * sizeVector;
            if (z[index] != 0) totalZero[index] += NAME(divide)(w[i] / zero, share);
        }
    }
    const VF leafValue = NAME(splat)(leaf);
    for (int index = 1; index <= depth; index++) {
        const VI isOne = o[index] != NAME(splat)(0.0f);
        const VF total = NAME(select)(isOne, totalOne[index], totalZero[index]);
        terms[index - 1] = total * (o[index] - NAME(splat)(z[index])) * leafValue * NAME(splat)(1.0f);
    }
}

/// Per-call scratch, carved out of the caller's buffer.
typedef struct {
    VF *weights;          // (maximumDepth + 1) levels x stride elements
    VF *ones;
    float *zeros;
    VI *goesLeft;         // per level: the lanes whose row goes left at that level's split
    VF *incomingOne;      // per level: the one fraction of the element the split unwound (or 1)
    VI *ranks;            // per level: each lane's position of the split's first leaf in its hot-first order
    int32_t *leftLeaves;  // per level: leaves under the split's left and right child
    int32_t *rightLeaves;
    VF *terms;            // maximumTerms vectors: per leaf, one per path element 1...depth
    VI *leafRanks;        // maximumLeaves: each lane's position of the leaf in its hot-first order
    int32_t *order;       // maximumLeaves: one lane's leaves in hot-first order
    float *phi;           // LANES x (featureCount + 1): one tree's contributions per lane, kept zero between trees
} NAME(scratch);

static TARGET int64_t NAME(scratchBytes)(const forest_shap_model *model, NAME(scratch) *layout, char *base) {
    const int64_t levels = model->maximumDepth + 1, stride = model->maximumDepth + 2;
    int64_t offset = 0;
#define CARVE(field, type, count) \
    do { if (layout) layout->field = (type *)(base + offset); offset += ((int64_t)sizeof(type) * (count) + 63) / 64 * 64; } while (0)
    CARVE(weights, VF, levels * stride);
    CARVE(ones, VF, levels * stride);
    CARVE(zeros, float, levels * stride);
    CARVE(goesLeft, VI, levels);
    CARVE(incomingOne, VF, levels);
    CARVE(ranks, VI, levels);
    CARVE(leftLeaves, int32_t, levels);
    CARVE(rightLeaves, int32_t, levels);
    CARVE(terms, VF, model->maximumTerms > 0 ? model->maximumTerms : 1);
    CARVE(leafRanks, VI, model->maximumLeaves);
    CARVE(order, int32_t, model->maximumLeaves);
    CARVE(phi, float, LANES * (model->featureCount + 1));
#undef CARVE
    return offset;
}

/// One tree for one block of rows. First a SIMD walk over the tree's nodes in pre-order: every
/// lane visits every node, as XGBoost's recursion does for its one row, with the same path
/// features and zero fractions; only the "one" fractions and the weights differ per lane. Each
/// leaf's terms are stored, with the leaf's position in each lane's hot-first order (XGBoost
/// recurses into the child the row takes first). Then each lane adds its terms to its `phi` in
/// that order, which keeps the Float32 sums XGBoost's.
static TARGET void NAME(tree)(const forest_shap_model *model, int64_t tree, const float *const *rowPointers, int lanes,
                              NAME(scratch) *s) {
    const int64_t stride = model->maximumDepth + 2;
    const int32_t firstNode = model->nodeStarts[tree], endNode = model->nodeStarts[tree + 1];
    const int32_t firstLeaf = model->leafStarts[tree], endLeaf = model->leafStarts[tree + 1];
    const int32_t firstTerm = model->leafFeatureStarts[firstLeaf];
    const VI allOnes = NAME(splati)(-1);
    int32_t leaf = firstLeaf;
    for (int32_t node = firstNode; node < endNode; node++) {
        const int level = model->levels[node];
        const int depth = model->extensionDepths[node];
        VF *w = s->weights + level * stride, *o = s->ones + level * stride;
        float *z = s->zeros + level * stride;
        VF one;
        VI rank;
        if (level == 0) {
            one = NAME(splat)(1.0f);
            rank = NAME(splati)(0);
        } else {
            const VF *pw = w - stride, *po = o - stride;
            const float *pz = z - stride;
            for (int i = 0; i < depth; i++) {
                w[i] = pw[i];
                o[i] = po[i];
                z[i] = pz[i];
            }
            // Lanes whose row takes this child (hot) carry the parent's incoming one fraction;
            // for the others (cold) this subtree's leaves come after the hot sibling's.
            const int isLeft = model->isLeft[node];
            const VI left = s->goesLeft[level - 1];
            const VI hot = isLeft ? left : (left ^ allOnes);
            one = NAME(select)(hot, s->incomingOne[level - 1], NAME(splat)(0.0f));
            const int32_t siblingLeaves = isLeft ? s->rightLeaves[level - 1] : s->leftLeaves[level - 1];
            rank = s->ranks[level - 1] + ((hot ^ allOnes) & NAME(splati)(siblingLeaves));
        }
        NAME(extend)(w, o, z, depth, model->extensionZeros[node], one);
        const int32_t right = model->rights[node];
        if (right < 0) {
            NAME(leafTerms)(w, o, z, depth, model->values[node], s->terms + (model->leafFeatureStarts[leaf] - firstTerm));
            s->leafRanks[leaf - firstLeaf] = rank;
            leaf++;
            continue;
        }
        const uint32_t split = model->splits[node];
        const int32_t feature = (int32_t)(split & 0x3FFFFFFF);
        VI goesLeft;
        for (int lane = 0; lane < LANES; lane++) {
            goesLeft[lane] = forest_shap_goes_left(rowPointers[lane][feature], split, model->values[node], model->categoryWords) ? -1 : 0;
        }
        s->goesLeft[level] = goesLeft;
        s->ranks[level] = rank;
        s->leftLeaves[level] = model->leafCounts[node + 1];
        s->rightLeaves[level] = model->leafCounts[right];
        if (model->repeats[node] >= 0) {
            s->incomingOne[level] = o[model->repeats[node]];
            NAME(unwind)(w, o, z, depth, model->repeats[node]);
        } else {
            s->incomingOne[level] = NAME(splat)(1.0f);
        }
    }
    const int32_t leafCount = endLeaf - firstLeaf;
    const int64_t columns = model->featureCount + 1;
    for (int lane = 0; lane < lanes; lane++) {
        float *phi = s->phi + lane * columns;
        for (int32_t k = 0; k < leafCount; k++) s->order[s->leafRanks[k][lane]] = k;
        for (int32_t r = 0; r < leafCount; r++) {
            const int32_t leafIndex = firstLeaf + s->order[r];
            const int32_t start = model->leafFeatureStarts[leafIndex], end = model->leafFeatureStarts[leafIndex + 1];
            const VF *terms = s->terms + (start - firstTerm);
            for (int32_t i = 0; i < end - start; i++) phi[model->leafFeatures[start + i]] += terms[i][lane];
        }
    }
}

static TARGET void NAME(contributions)(const forest_shap_model *model, const float *rows, int64_t rowCount, float *output,
                                       void *scratchBase) {
    NAME(scratch) s;
    NAME(scratchBytes)(model, &s, (char *)scratchBase);
    const int64_t features = model->featureCount, columns = features + 1, width = model->groupCount * columns;
    for (int64_t i = 0; i < LANES * columns; i++) s.phi[i] = 0;
    for (int64_t start = 0; start < rowCount; start += LANES) {
        const int lanes = rowCount - start < LANES ? (int)(rowCount - start) : LANES;
        const float *rowPointers[LANES];
        // Lanes past the last row repeat it; their results are dropped.
        for (int lane = 0; lane < LANES; lane++) rowPointers[lane] = rows + (start + (lane < lanes ? lane : lanes - 1)) * features;
        float *out = output + start * width;
        for (int64_t i = 0; i < lanes * width; i++) out[i] = 0;
        for (int64_t tree = 0; tree < model->treeCount; tree++) {
            NAME(tree)(model, tree, rowPointers, lanes, &s);
            const float weight = model->weights ? model->weights[tree] : 1.0f;
            const int64_t group = model->groups[tree];
            const int32_t first = model->featureStarts[tree], end = model->featureStarts[tree + 1];
            for (int lane = 0; lane < lanes; lane++) {
                float *phi = s.phi + lane * columns;
                float *groupOut = out + lane * width + group * columns;
                for (int32_t index = first; index < end; index++) {
                    const int32_t feature = model->treeFeatures[index];
                    groupOut[feature] += phi[feature] * weight;
                    phi[feature] = 0;
                }
                groupOut[features] += model->expectedValues[tree] * weight;
            }
        }
        for (int lane = 0; lane < lanes; lane++) {
            for (int64_t group = 0; group < model->groupCount; group++) out[lane * width + group * columns + features] += model->baseMargins[group];
        }
    }
}

#undef VF
#undef VI

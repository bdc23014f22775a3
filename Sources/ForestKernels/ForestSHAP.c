// The vectorised TreeSHAP kernel (ForestModel.contributions): 16 rows per AVX-512 vector, 8 per
// AVX2 vector, one kernel body (ShapKernel.h) compiled for each with GCC/Clang vector types.
//
// Why rows in lanes: TreeSHAP's cost is in each leaf's path sums (several Float32 divisions per
// path element and ancestor), and every row goes through the same sequence of them; only the
// values differ. XGBoost's scalar recursion is the reference (the Swift ReferenceExplainer and
// TreeExplainer follow it); results are bit-identical to it (Tests/ForestTests).

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "ForestSHAP.h"

#include <string.h>

/// Unique path elements per leaf the kernel has room for; TreeExplainer uses the Swift walk for
/// deeper trees.
#define FOREST_SHAP_MAX_UNIQUE 64

/// Whether `x` is a positive power of two whose reciprocal is exact (2^-126 ... 2^126): then
/// `y / x == y * (1 / x)` for every `y`, both being the one rounding of the same real number.
static inline int forest_shap_is_power_of_two(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    const uint32_t exponent = bits >> 23;  // sign bit included: negative numbers fail
    return (bits & 0x7FFFFF) == 0 && exponent >= 1 && exponent <= 253;
}

/// XGBoost's split rule (GetNextNode): NaN takes the default side; numerical: x < threshold goes
/// left; categorical: a listed category goes right, anything else (invalid codes included) left.
static inline int forest_shap_goes_left(float x, uint32_t split, float value, const uint32_t *words) {
    if (x != x) return (int)(split >> 31);
    if ((split & (1u << 30)) && words) {
        if (!(x >= 0.0f && x < 16777216.0f)) return 1;
        uint32_t offset;
        memcpy(&offset, &value, sizeof offset);
        const int32_t category = (int32_t)x;
        const uint32_t word = (uint32_t)category >> 5;
        if (word >= words[offset]) return 1;
        return ((words[offset + 1 + word] >> (category & 31)) & 1) ? 0 : 1;
    }
    return x < value;
}

#if defined(__x86_64__) || defined(_M_X64)

#define LANES 16
#define NAME(x) x##16
#define TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
#include "ShapKernel.h"
#undef LANES
#undef NAME
#undef TARGET

#define LANES 8
#define NAME(x) x##8
#define TARGET __attribute__((target("avx2")))
#include "ShapKernel.h"
#undef LANES
#undef NAME
#undef TARGET

int forest_shap_lanes(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl")) {
        return 16;
    }
    return __builtin_cpu_supports("avx2") ? 8 : 0;
}

int64_t forest_shap_scratch_bytes(const forest_shap_model *model, int lanes) {
    const int64_t bytes8 = scratchBytes8(model, NULL, NULL);
    if (lanes != 16) return bytes8;
    const int64_t bytes16 = scratchBytes16(model, NULL, NULL);
    return bytes16 > bytes8 ? bytes16 : bytes8;
}

void forest_shap_contributions(const forest_shap_model *model, int lanes, const float *rows, int64_t rowCount,
                               float *output, void *scratch) {
    if (lanes != 16) {
        contributions8(model, rows, rowCount, output, scratch);
        return;
    }
    // A block costs about the same whatever its number of rows, and an 8-lane block about half a
    // 16-lane one: up to 8 remaining rows go through the 8-lane kernel.
    const int64_t whole = rowCount % 16 <= 8 ? rowCount / 16 * 16 : rowCount;
    if (whole > 0) contributions16(model, rows, whole, output, scratch);
    if (whole < rowCount) {
        contributions8(model, rows + whole * model->featureCount, rowCount - whole,
                       output + whole * model->groupCount * (model->featureCount + 1), scratch);
    }
}

#else

int forest_shap_lanes(void) { return 0; }

int64_t forest_shap_scratch_bytes(const forest_shap_model *model, int lanes) {
    (void)model; (void)lanes;
    return 0;
}

void forest_shap_contributions(const forest_shap_model *model, int lanes, const float *rows, int64_t rowCount,
                               float *output, void *scratch) {
    (void)model; (void)lanes; (void)rows; (void)rowCount; (void)output; (void)scratch;
}

#endif

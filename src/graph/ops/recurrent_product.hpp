#pragma once
// The product of a recurrent layer's state with its weight at one step, c + h·w: a matmul_add
// whose gradient rule reads the weight's transpose from one contiguous copy shared by all of the
// layer's steps (made when the first step's gradient is built) instead of reading the weight
// transposed in every step. A 32×512 by 512×128 product (W4's state gradient) runs 2× faster with
// oneMKL and 1.1–1.3× with OpenBLAS when both operands are in rows (Emerald Rapids), and the copy
// costs one pass over the weight per run.
#include <memory>

#include "stheno/graph/ops.hpp"

namespace stheno {

// `transposed` starts empty and is the same for every step of one layer.
Node recurrent_product(const Node& c, const Node& h, const Node& w, const std::shared_ptr<Node>& transposed);

}  // namespace stheno

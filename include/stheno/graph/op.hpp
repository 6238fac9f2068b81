#pragma once
// An op is one small unit: a shape rule, a forward kernel call and a gradient rule. The gradient
// rule is written once, with the same graph-building functions a user calls, and serves both
// symbolic differentiation (grad adds its nodes to the graph) and the eager machine (whose
// graph evaluates those nodes as they are created).
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stheno/graph/node.hpp"
#include "stheno/graph/op_attributes.hpp"
#include "stheno/kernels/op_kind.hpp"
#include "stheno/kernels/prepared.hpp"

namespace stheno {

struct TypeInfo {
  Shape shape;
  DType dtype = DType::f32;
};

class Op {
 public:
  virtual ~Op() = default;

  // The op's identity is its kind and its attributes (what describe() prints); backends
  // declare which kinds they run.
  virtual OpKind kind() const = 0;
  // Short name used in listings, e.g. "sigmoid".
  virtual std::string name() const = 0;
  // Name with attributes, e.g. "sum(axes=(0,), keepdims)".
  virtual std::string describe() const { return name(); }
  // The attributes behind describe(), typed, for ops that have any (graph/op_attributes.hpp).
  virtual OpAttributes attributes() const { return {}; }

  // Shape and dtype of the result; throws ShapeError/DTypeError naming this op and the inputs.
  virtual TypeInfo infer(std::span<const Node> inputs) const = 0;

  // Writes the result into `out` (already of the inferred shape and dtype). Called by both
  // machines; must not allocate when the kernels it calls do not.
  virtual void forward(std::span<const Tensor> inputs, const Tensor& out) const = 0;
  // forward() for these operands' shapes, dtypes, devices and layouts, prepared once
  // (kernels/prepared.hpp); the tape machine prepares each instruction after its first run, since
  // its registers keep their layouts, and calls this instead of forward(). Empty (the default):
  // forward() runs every time.
  virtual PreparedKernel prepare(std::span<const Tensor> inputs, const Tensor& out) const {
    (void)inputs, (void)out;
    return {};
  }

  // The gradient rule: given this op's node, its inputs and dL/d(node), returns dL/d(input i)
  // for every input, built from graph ops. An undefined Node means no gradient flows there.
  // wanted[i] says whether input i's gradient is needed at all; a rule may skip building the
  // others (an eager graph would compute them for nothing). The default throws "gradient not
  // implemented".
  virtual std::vector<Node> backward(const Node& self, std::span<const Node> inputs, const Node& grad,
                                     std::span<const bool> wanted) const;

  // For gradient accumulation: `sum` + this op's result (node `self`, same shape and dtype as
  // sum) as one fused node that never materialises the result on its own, or an undefined Node
  // when the op has no such form (then a plain add is used). Used in deferred graphs only.
  virtual Node add_to(const Node& self, const Node& sum) const;

  // For the tape machine's planner:
  // the index of an input whose buffer the output may overwrite (same size and dtype, and read
  // only element by element), or -1;
  virtual int inplace_input() const { return -1; }
  // whether the output is a view of input 0 (reshape, transpose, slice, broadcast), made by
  // view() without copying.
  virtual bool is_view() const { return false; }
  virtual Tensor view(const Tensor& input) const;
};

using OpPtr = std::shared_ptr<const Op>;

// Throws ShapeError naming the op and every input node: "<op>: x (5, 5) float64, w (4,) float64: <why>".
[[noreturn]] void op_shape_error(const Op& op, std::span<const Node> inputs, const std::string& why);
[[noreturn]] void op_dtype_error(const Op& op, std::span<const Node> inputs, const std::string& why);
// Why an arithmetic op refuses an int64 input.
inline constexpr const char* kNoInt64Arithmetic =
    "int64 holds sparse matrix indices only; arithmetic needs float32, float64 or int32";
// Checks that all inputs share one dtype, and returns it.
DType common_dtype(const Op& op, std::span<const Node> inputs);

}  // namespace stheno

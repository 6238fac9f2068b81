// Ops that move data without arithmetic. Where the strides allow, their result is a view of the
// input (no copy in either machine); otherwise forward() copies.
#include <numeric>

#include "stheno/graph/ops.hpp"
#include "stheno/kernels/elementwise.hpp"

namespace stheno {

namespace {

class ReshapeOp final : public Op {
 public:
  explicit ReshapeOp(Shape shape) : shape_(shape) {}
  std::string name() const override { return "reshape"; }
  OpKind kind() const override { return OpKind::reshape; }
  std::string describe() const override { return "reshape" + shape_.str(); }
  TypeInfo infer(std::span<const Node> in) const override {
    try {
      return {resolve_reshape(shape_, in[0].shape(), "reshape"), in[0].dtype()};
    } catch (const ShapeError& e) {
      op_shape_error(*this, in, e.what());
    }
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { out.view(in[0].shape()).copy_from(in[0]); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {reshape(g, in[0].shape())};
  }
  bool is_view() const override { return true; }
  Tensor view(const Tensor& x) const override { return x.view(shape_); }

 private:
  Shape shape_;
};

class PermuteOp final : public Op {
 public:
  explicit PermuteOp(std::vector<int> order) : order_(std::move(order)) {}
  std::string name() const override { return "permute"; }
  OpKind kind() const override { return OpKind::permute; }
  OpAttributes attributes() const override { return PermuteAttributes{order_}; }
  std::string describe() const override {
    std::string s = "permute(";
    for (std::size_t i = 0; i < order_.size(); ++i) s += (i ? "," : "") + std::to_string(order_[i]);
    return s + ")";
  }
  TypeInfo infer(std::span<const Node> in) const override {
    if (static_cast<int>(order_.size()) != in[0].rank())
      op_shape_error(*this, in, std::to_string(order_.size()) + " axes given for rank " + std::to_string(in[0].rank()));
    std::vector<bool> seen(order_.size());
    Shape s;
    for (int ax : order_) {
      if (ax < 0 || ax >= in[0].rank() || seen[static_cast<std::size_t>(ax)])
        op_shape_error(*this, in, "the order must name every axis exactly once");
      seen[static_cast<std::size_t>(ax)] = true;
      s.push_back(in[0].shape()[ax]);
    }
    return {s, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { out.copy_from(view(in[0])); }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    std::vector<int> inverse(order_.size());
    for (std::size_t i = 0; i < order_.size(); ++i) inverse[static_cast<std::size_t>(order_[i])] = static_cast<int>(i);
    return {permute(g, inverse)};
  }
  bool is_view() const override { return true; }
  Tensor view(const Tensor& x) const override { return x.permute(std::span<const int>(order_)); }

 private:
  std::vector<int> order_;
};

class SliceOp final : public Op {
 public:
  SliceOp(int axis, std::int64_t start, std::int64_t stop, std::int64_t step)
      : axis_(axis), start_(start), stop_(stop), step_(step) {}
  std::string name() const override { return "slice"; }
  OpKind kind() const override { return OpKind::slice; }
  OpAttributes attributes() const override { return SliceAttributes{axis_, start_, stop_, step_}; }
  std::string describe() const override {
    return "slice(axis=" + std::to_string(axis_) + ", " + std::to_string(start_) + ":" + std::to_string(stop_) + ":" +
           std::to_string(step_) + ")";
  }
  TypeInfo infer(std::span<const Node> in) const override {
    try {
      return {sliced(in[0].shape()), in[0].dtype()};
    } catch (const Error& e) {
      op_shape_error(*this, in, e.what());
    }
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { out.copy_from(view(in[0])); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override;
  bool is_view() const override { return true; }
  Tensor view(const Tensor& x) const override { return x.slice(axis_, start_, stop_, step_); }

  Shape sliced(const Shape& shape) const {
    // Slicing a zero-strided stand-in gives the result's shape without touching memory.
    return Tensor::zeros(Shape{}).expand(shape).slice(axis_, start_, stop_, step_).shape();
  }
  int axis_;
  std::int64_t start_, stop_, step_;
};

// The adjoint of slice: zeros of the input's shape with g written into the sliced positions.
class SliceGradOp final : public Op {
 public:
  SliceGradOp(Shape input_shape, std::shared_ptr<const SliceOp> slice) : input_shape_(input_shape), slice_(std::move(slice)) {}
  std::string name() const override { return "unslice"; }
  OpKind kind() const override { return OpKind::unslice; }
  std::string describe() const override { return "unslice" + input_shape_.str(); }
  // The slice it undoes.
  OpAttributes attributes() const override { return slice_->attributes(); }
  TypeInfo infer(std::span<const Node> in) const override { return {input_shape_, in[0].dtype()}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    out.fill(0);
    slice_->view(out).copy_from(in[0]);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    return {slice(g, slice_->axis_, slice_->start_, slice_->stop_, slice_->step_)};
  }
  Node add_to(const Node& self, const Node& sum) const override;

 private:
  Shape input_shape_;
  std::shared_ptr<const SliceOp> slice_;
};

// sum with g added into the sliced block: the accumulation of a slice's adjoint into a gradient.
// Reads and writes the sum element by element, so the output may take over sum's buffer, and
// then only the block is touched.
class SliceAccumulateOp final : public Op {
 public:
  explicit SliceAccumulateOp(std::shared_ptr<const SliceOp> slice) : slice_(std::move(slice)) {}
  std::string name() const override { return "unslice_add"; }
  OpKind kind() const override { return OpKind::unslice_add; }
  std::string describe() const override { return "unslice_add(" + slice_->describe() + ")"; }
  TypeInfo infer(std::span<const Node> in) const override { return {in[0].shape(), common_dtype(*this, in)}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    const bool in_place = out.same_elements(in[0]);
    if (!in_place) out.copy_from(in[0]);
    const Tensor block = slice_->view(out);
    binary(BinaryOp::add, block, in[1], block);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    return {g, slice(g, slice_->axis_, slice_->start_, slice_->stop_, slice_->step_)};
  }
  int inplace_input() const override { return 0; }

 private:
  std::shared_ptr<const SliceOp> slice_;
};

Node SliceGradOp::add_to(const Node& self, const Node& sum) const {
  return sum.graph().apply(std::make_shared<SliceAccumulateOp>(slice_), {sum, self.input(0)});
}

std::vector<Node> SliceOp::backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const {
  auto self = std::make_shared<SliceOp>(*this);
  return {g.graph().apply(std::make_shared<SliceGradOp>(in[0].shape(), self), {g})};
}

class ConcatOp final : public Op {
 public:
  explicit ConcatOp(int axis) : axis_(axis) {}
  std::string name() const override { return "concat"; }
  OpKind kind() const override { return OpKind::concat; }
  OpAttributes attributes() const override { return AxisAttribute{axis_}; }
  std::string describe() const override { return "concat(axis=" + std::to_string(axis_) + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    if (in.empty()) throw ValueError("concat: needs at least one input");
    const DType dtype = common_dtype(*this, in);
    const int rank = in[0].rank();
    int ax;
    try {
      ax = normalize_axis(axis_, rank, "concat");
    } catch (const IndexError& e) {
      op_shape_error(*this, in, e.what());
    }
    Shape s = in[0].shape();
    s[ax] = 0;
    for (const Node& n : in) {
      if (n.rank() != rank) op_shape_error(*this, in, "inputs must have the same rank");
      for (int i = 0; i < rank; ++i)
        if (i != ax && n.shape()[i] != in[0].shape()[i])
          op_shape_error(*this, in, "inputs must agree on every axis but axis " + std::to_string(ax));
      s[ax] += n.shape()[ax];
    }
    return {s, dtype};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    const int ax = normalize_axis(axis_, out.rank(), "concat");
    std::int64_t at = 0;
    for (const Tensor& t : in) {
      out.slice(ax, at, at + t.shape()[ax]).copy_from(t);
      at += t.shape()[ax];
    }
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    const int ax = normalize_axis(axis_, g.rank(), "concat");
    std::vector<Node> grads;
    std::int64_t at = 0;
    for (const Node& n : in) {
      grads.push_back(slice(g, ax, at, at + n.shape()[ax]));
      at += n.shape()[ax];
    }
    return grads;
  }

 private:
  int axis_;
};

class BroadcastToOp final : public Op {
 public:
  explicit BroadcastToOp(Shape shape) : shape_(shape) {}
  std::string name() const override { return "broadcast"; }
  OpKind kind() const override { return OpKind::broadcast; }
  std::string describe() const override { return "broadcast" + shape_.str(); }
  TypeInfo infer(std::span<const Node> in) const override {
    try {
      if (broadcast_shapes(in[0].shape(), shape_, "broadcast") != shape_) throw ShapeError("");
    } catch (const ShapeError&) {
      op_shape_error(*this, in, "cannot broadcast to " + shape_.str());
    }
    return {shape_, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { out.copy_from(in[0]); }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {sum_to(g, in[0].shape())};
  }
  bool is_view() const override { return true; }
  Tensor view(const Tensor& x) const override { return x.expand(shape_); }

 private:
  Shape shape_;
};

class SumToOp final : public Op {
 public:
  explicit SumToOp(Shape shape) : shape_(shape) {}
  std::string name() const override { return "sum_to"; }
  OpKind kind() const override { return OpKind::sum_to; }
  std::string describe() const override { return "sum_to" + shape_.str(); }
  TypeInfo infer(std::span<const Node> in) const override {
    try {
      if (broadcast_shapes(in[0].shape(), shape_, "sum_to") != in[0].shape()) throw ShapeError("");
    } catch (const ShapeError&) {
      op_shape_error(*this, in, shape_.str() + " does not broadcast to the input's shape");
    }
    return {shape_, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    const Summed s = summed(in[0].shape());
    if (s.axes.empty()) out.copy_from(in[0].reshape(shape_));
    else reduce(ReduceOp::sum, in[0], s.axes, true, out.view(s.kept));
  }
  PreparedKernel prepare(std::span<const Tensor> in, const Tensor& out) const override {
    const Summed s = summed(in[0].shape());
    return s.axes.empty() ? PreparedKernel{} : prepare_reduce(ReduceOp::sum, in[0], s.axes, out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {broadcast_to(g, in[0].shape())};
  }

 private:
  // The input's axes that sum into the result, and the input's shape with those made 1.
  struct Summed {
    Axes axes;
    Shape kept;
  };
  Summed summed(const Shape& from) const {
    const int lead = from.rank() - shape_.rank();
    Summed s;
    for (int i = 0; i < from.rank(); ++i) {
      const bool summed = i < lead || (shape_[i - lead] == 1 && from[i] != 1);
      if (summed) s.axes.push_back(i);
      s.kept.push_back(summed ? 1 : from[i]);
    }
    return s;
  }
  Shape shape_;
};

// A layout requirement: a view when met, a copy otherwise (the tape machine and eager graphs
// turn a view that throws into a computed copy).
class LaidOutOp final : public Op {
 public:
  explicit LaidOutOp(Layout layout) : layout_(layout) {}
  std::string name() const override { return "laid_out"; }
  OpKind kind() const override { return OpKind::laid_out; }
  std::string describe() const override {
    return layout_ == Layout::contiguous ? "contiguous" : layout_ == Layout::contiguous_images ? "contiguous(images)" : "contiguous(rows)";
  }
  TypeInfo infer(std::span<const Node> in) const override { return {in[0].shape(), in[0].dtype()}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { out.copy_from(in[0]); }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    return {g};
  }
  bool is_view() const override { return true; }
  Tensor view(const Tensor& x) const override {
    if (meets(x)) return x;
    throw ShapeError(describe() + ": " + x.shape().str() + " with strides " + x.strides().str() + " needs a copy");
  }

 private:
  bool meets(const Tensor& x) const {
    switch (layout_) {
      case Layout::contiguous: return x.is_contiguous();
      case Layout::contiguous_images: return x.numel() == 0 || (x.rank() > 0 && x.select(0, 0).is_contiguous());
      case Layout::unit_rows: return x.rank() >= 1 && (x.shape().back() <= 1 || x.strides().back() == 1);
    }
    return false;
  }
  Layout layout_;
};

}  // namespace

Node laid_out(const Node& x, Layout layout) {
  return x.graph().apply(std::make_shared<LaidOutOp>(layout), {x});
}

Node reshape(const Node& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return x.graph().apply(std::make_shared<ReshapeOp>(shape), {x});
}

Node permute(const Node& x, std::vector<int> order) {
  for (int& ax : order)
    if (ax < 0) ax += x.rank();
  return x.graph().apply(std::make_shared<PermuteOp>(std::move(order)), {x});
}

Node transpose(const Node& x, int axis0, int axis1) {
  std::vector<int> order(static_cast<std::size_t>(x.rank()));
  std::iota(order.begin(), order.end(), 0);
  const int a = axis0 < 0 ? axis0 + x.rank() : axis0, b = axis1 < 0 ? axis1 + x.rank() : axis1;
  if (a < 0 || b < 0 || a >= x.rank() || b >= x.rank())
    throw IndexError("transpose: axes " + std::to_string(axis0) + ", " + std::to_string(axis1) + " are out of range for " +
                     x.describe());
  std::swap(order[static_cast<std::size_t>(a)], order[static_cast<std::size_t>(b)]);
  return permute(x, order);
}

Node slice(const Node& x, int axis, std::int64_t start, std::int64_t stop, std::int64_t step) {
  return x.graph().apply(std::make_shared<SliceOp>(axis, start, stop, step), {x});
}

Node concat(const std::vector<Node>& parts, int axis) {
  if (parts.empty()) throw ValueError("concat: needs at least one input");
  return parts[0].graph().apply(std::make_shared<ConcatOp>(axis), parts);
}

Node broadcast_to(const Node& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return x.graph().apply(std::make_shared<BroadcastToOp>(shape), {x});
}

Node sum_to(const Node& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return x.graph().apply(std::make_shared<SumToOp>(shape), {x});
}

}  // namespace stheno

// Convolution ops: im2col and col2im (the data movement of a convolution, each the other's
// adjoint), the direct convolution with its two adjoint kernels, and max pooling.
#include "stheno/graph/ops.hpp"
#include "stheno/kernels/pool.hpp"

namespace stheno {

namespace {

class Im2colOp final : public Op {
 public:
  Im2colOp(Conv2dGeometry g, bool inverse) : g_(g), inverse_(inverse) {}
  std::string name() const override { return inverse_ ? "col2im" : "im2col"; }
  OpKind kind() const override { return inverse_ ? OpKind::col2im : OpKind::im2col; }
  OpAttributes attributes() const override { return g_; }
  std::string describe() const override { return name() + "(" + g_.str() + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    if (!is_floating(in[0].dtype())) op_dtype_error(*this, in, "needs float32 or float64");
    try {
      g_.validate(name());
    } catch (const Error& e) {
      op_shape_error(*this, in, e.what());
    }
    const Shape& s = in[0].shape();
    const Shape image{g_.channels, g_.height, g_.width};
    const Shape columns{g_.channels * g_.kernel_h * g_.kernel_w, g_.out_h() * g_.out_w()};
    const Shape& expected = inverse_ ? columns : image;
    const bool batched = s.rank() == expected.rank() + 1;
    Shape core = s;
    if (batched) core.erase(0);
    if (core != expected)
      op_shape_error(*this, in, "expected " + std::string(batched ? "(N, " : "(") + expected.str().substr(1) + " for this geometry");
    Shape out = inverse_ ? image : columns;
    if (batched) out.insert(0, s[0]);
    return {out, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    if (inverse_) col2im(in[0], g_, out);
    else im2col(in[0], g_, out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node>, const Node& g, std::span<const bool>) const override {
    return {inverse_ ? im2col(g, g_) : col2im(g, g_)};
  }

 private:
  Conv2dGeometry g_;
  bool inverse_;
};

// The direct kernels take contiguous weights and pooling operands, and images (N, C, H, W) and
// per-image outputs (N, F, P) contiguous one by one: a channel slice of a batch (a group of a
// grouped convolution, or its gradient) is used as it is. laid_out() nodes see to it.
Node images(const Node& x) { return laid_out(x, Layout::contiguous_images); }
Node dense(const Node& x) { return laid_out(x, Layout::contiguous); }

class Conv2dInputGradOp final : public Op {
 public:
  explicit Conv2dInputGradOp(Conv2dGeometry g, std::int64_t batch) : g_(g), batch_(batch) {}
  std::string name() const override { return "conv2d_input_grad"; }
  OpKind kind() const override { return OpKind::conv2d_input_grad; }
  TypeInfo infer(std::span<const Node> in) const override {
    return {Shape{batch_, g_.channels, g_.height, g_.width}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    conv2d_backward_input(in[0], in[1], g_, out);
  }

 private:
  Conv2dGeometry g_;
  std::int64_t batch_;
};

class Conv2dWeightGradOp final : public Op {
 public:
  explicit Conv2dWeightGradOp(Conv2dGeometry g, Shape weight) : g_(g), weight_(weight) {}
  std::string name() const override { return "conv2d_weight_grad"; }
  OpKind kind() const override { return OpKind::conv2d_weight_grad; }
  TypeInfo infer(std::span<const Node> in) const override { return {weight_, in[0].dtype()}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    conv2d_backward_weight(in[0], in[1], g_, out);
  }

 private:
  Conv2dGeometry g_;
  Shape weight_;
};

// x (N, C, H, W), weight (F, C·kh·kw) and optionally bias (F,) -> (N, F, out_h·out_w). Its
// adjoints are direct kernels too; they have no gradients of their own, so second derivatives
// through a convolution are not supported.
class Conv2dOp final : public Op {
 public:
  explicit Conv2dOp(Conv2dGeometry g) : g_(g) {}
  std::string name() const override { return "conv2d"; }
  OpKind kind() const override { return OpKind::conv2d; }
  OpAttributes attributes() const override { return g_; }
  std::string describe() const override { return "conv2d(" + g_.str() + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    const DType dtype = common_dtype(*this, in);
    if (!is_floating(dtype)) op_dtype_error(*this, in, "needs float32 or float64");
    try {
      g_.validate(name());
    } catch (const Error& e) {
      op_shape_error(*this, in, e.what());
    }
    const std::int64_t k = g_.channels * g_.kernel_h * g_.kernel_w;
    const Shape& x = in[0].shape();
    if (x.rank() != 4 || x[1] != g_.channels || x[2] != g_.height || x[3] != g_.width)
      op_shape_error(*this, in, "the images must be (N, " + std::to_string(g_.channels) + ", " + std::to_string(g_.height) +
                                    ", " + std::to_string(g_.width) + ")");
    if (in[1].rank() != 2 || in[1].shape()[1] != k) op_shape_error(*this, in, "the weight must be (F, " + std::to_string(k) + ")");
    if (in.size() > 2 && in[2].shape() != Shape{in[1].shape()[0]}) op_shape_error(*this, in, "the bias must be (F,)");
    return {Shape{in[0].shape()[0], in[1].shape()[0], g_.out_h() * g_.out_w()}, dtype};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    conv2d_forward(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), g_, out);
  }
  std::vector<Node> backward(const Node&, std::span<const Node> in, const Node& g, std::span<const bool> wanted) const override {
    Graph& graph = g.graph();
    std::vector<Node> grads(in.size());
    if (wanted[0]) grads[0] = graph.apply(std::make_shared<Conv2dInputGradOp>(g_, in[0].shape()[0]), {images(g), dense(in[1])});
    if (wanted[1]) grads[1] = graph.apply(std::make_shared<Conv2dWeightGradOp>(g_, in[1].shape()), {images(in[0]), images(g)});
    if (in.size() > 2 && wanted[2]) grads[2] = sum(g, Axes{0, 2});
    return grads;
  }

 private:
  Conv2dGeometry g_;
};

class MaxPool2dGradOp final : public Op {
 public:
  explicit MaxPool2dGradOp(Pool2dWindow window) : window_(window) {}
  std::string name() const override { return "max_pool2d_grad"; }
  OpKind kind() const override { return OpKind::max_pool2d_grad; }
  TypeInfo infer(std::span<const Node> in) const override { return {in[0].shape(), in[0].dtype()}; }
  void forward(std::span<const Tensor> in, const Tensor& out) const override {
    max_pool2d_backward(in[0], in[1], in[2], window_, out);
  }

 private:
  Pool2dWindow window_;
};

// Max pooling; padded positions never win. Its adjoint sends each gradient to the window's first
// maximum; it has no gradient of its own.
class MaxPool2dOp final : public Op {
 public:
  explicit MaxPool2dOp(Pool2dWindow window) : window_(window) {}
  std::string name() const override { return "max_pool2d"; }
  OpKind kind() const override { return OpKind::max_pool2d; }
  OpAttributes attributes() const override { return window_; }
  std::string describe() const override { return "max_pool2d(" + window_.str() + ")"; }
  TypeInfo infer(std::span<const Node> in) const override {
    if (!is_floating(in[0].dtype())) op_dtype_error(*this, in, "needs float32 or float64");
    const Shape& s = in[0].shape();
    if (s.rank() != 4) op_shape_error(*this, in, "expects images (N, C, H, W)");
    try {
      window_.validate(name(), s[2], s[3]);
    } catch (const Error& e) {
      op_shape_error(*this, in, e.what());
    }
    return {Shape{s[0], s[1], window_.out_h(s[2]), window_.out_w(s[3])}, in[0].dtype()};
  }
  void forward(std::span<const Tensor> in, const Tensor& out) const override { max_pool2d(in[0], window_, out); }
  std::vector<Node> backward(const Node& self, std::span<const Node> in, const Node& g, std::span<const bool>) const override {
    return {g.graph().apply(std::make_shared<MaxPool2dGradOp>(window_), {dense(in[0]), dense(self), dense(g)})};
  }

 private:
  Pool2dWindow window_;
};

}  // namespace

Node max_pool2d(const Node& x, Size2 kernel, Size2 stride, Size2 padding) {
  return x.graph().apply(std::make_shared<MaxPool2dOp>(Pool2dWindow::of(kernel, stride, padding)), {dense(x)});
}

Node conv2d_columns(const Node& x, const Node& weight, const Node& bias, const Conv2dGeometry& geometry) {
  std::vector<Node> inputs{images(x), dense(weight)};
  if (bias.defined()) inputs.push_back(dense(bias));
  return x.graph().apply(std::make_shared<Conv2dOp>(geometry), inputs);
}

Node im2col(const Node& image, const Conv2dGeometry& geometry) {
  return image.graph().apply(std::make_shared<Im2colOp>(geometry, false), {image});
}

Node col2im(const Node& columns, const Conv2dGeometry& geometry) {
  return columns.graph().apply(std::make_shared<Im2colOp>(geometry, true), {columns});
}

}  // namespace stheno

// im2col and col2im as graph ops: the data movement of a convolution. col2im is the adjoint of
// im2col, so each one's gradient is the other.
#include "stheno/graph/ops.hpp"

namespace stheno {

namespace {

class Im2colOp final : public Op {
 public:
  Im2colOp(Conv2dGeometry g, bool inverse) : g_(g), inverse_(inverse) {}
  std::string name() const override { return inverse_ ? "col2im" : "im2col"; }
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

}  // namespace

Node im2col(const Node& image, const Conv2dGeometry& geometry) {
  return image.graph().apply(std::make_shared<Im2colOp>(geometry, false), {image});
}

Node col2im(const Node& columns, const Conv2dGeometry& geometry) {
  return columns.graph().apply(std::make_shared<Im2colOp>(geometry, true), {columns});
}

}  // namespace stheno

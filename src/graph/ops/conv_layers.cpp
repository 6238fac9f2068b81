// Layers built from smaller ops: conv2d checks its arguments and applies the direct convolution
// op per group; average pooling is im2col followed by a mean, whose gradient comes from those
// ops' rules. (Max pooling is its own op, in conv_ops.cpp.)
#include "layer_record.hpp"
#include "stheno/graph/ops.hpp"

namespace stheno {

namespace {

void require_image(const char* op, const Node& x) {
  if (x.rank() != 4) throw ShapeError(std::string(op) + " of " + x.describe() + ": expects images (N, C, H, W)");
}

Conv2dGeometry geometry(const Node& x, std::int64_t channels, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation) {
  return {channels, x.shape()[2], x.shape()[3], kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w};
}

// One group: x (N, C, H, W), weight (F, C, kh, kw) and bias (F) -> (N, F, out_h * out_w).
Node conv_group(const Node& x, const Node& weight, const Node& bias, const Conv2dGeometry& g) {
  const Node w = reshape(weight, {weight.shape()[0], g.channels * g.kernel_h * g.kernel_w});
  return conv2d_columns(x, w, bias, g);
}

}  // namespace

Node conv2d(const Node& x, const Node& weight, const Node& bias, const Conv2dOptions& o) {
  require_image("conv2d", x);
  const int first = x.graph().size();
  auto fail = [&](const std::string& why) {
    throw ShapeError("conv2d of " + x.describe() + ", weight " + weight.describe() + ": " + why);
  };
  if (weight.rank() != 4) fail("the weight must be (F, C/groups, kh, kw)");
  if (o.groups < 1 || x.shape()[1] % o.groups != 0 || weight.shape()[0] % o.groups != 0)
    fail("groups " + std::to_string(o.groups) + " must divide the input channels and the filters");
  const std::int64_t group_channels = x.shape()[1] / o.groups, group_filters = weight.shape()[0] / o.groups;
  if (weight.shape()[1] != group_channels)
    fail("the input has " + std::to_string(x.shape()[1]) + " channels, so with " + std::to_string(o.groups) +
         " group(s) the weight's second axis must be " + std::to_string(group_channels) + ", not " +
         std::to_string(weight.shape()[1]));
  if (bias.defined() && bias.shape() != Shape{weight.shape()[0]}) fail("the bias must be (F,) = " + Shape{weight.shape()[0]}.str());
  const Conv2dGeometry g =
      geometry(x, group_channels, {weight.shape()[2], weight.shape()[3]}, o.stride, o.padding, o.dilation);
  try {
    g.validate("conv2d");
  } catch (const Error& e) {
    fail(e.what());
  }
  Node y;
  if (o.groups == 1) {
    y = conv_group(x, weight, bias, g);
  } else {
    std::vector<Node> parts;
    for (std::int64_t k = 0; k < o.groups; ++k)
      parts.push_back(conv_group(slice(x, 1, k * group_channels, (k + 1) * group_channels),
                                 slice(weight, 0, k * group_filters, (k + 1) * group_filters),
                                 bias.defined() ? slice(bias, 0, k * group_filters, (k + 1) * group_filters) : Node(), g));
    y = concat(parts, 1);
  }
  const Node out = reshape(y, {x.shape()[0], weight.shape()[0], g.out_h(), g.out_w()});
  record_layer(LayerKind::conv2d, {x, weight, bias}, {out}, first).conv = o;
  return out;
}

namespace {
// Every window of every channel as a column: (N, C, H, W) -> (N·C, kh·kw, P).
Node windows(const char* op, const Node& x, Size2 kernel, Size2 stride, Size2 padding, Conv2dGeometry& g) {
  require_image(op, x);
  if (kernel.h < 1 || kernel.w < 1) throw ShapeError(std::string(op) + " of " + x.describe() + ": kernel must be at least 1");
  const Pool2dWindow window = Pool2dWindow::of(kernel, stride, padding);
  g = geometry(x, 1, window.kernel, window.stride, window.padding, 1);
  try {
    g.validate(op);
  } catch (const Error& e) {
    throw ShapeError(std::string(op) + " of " + x.describe() + ": " + e.what());
  }
  return im2col(reshape(x, {x.shape()[0] * x.shape()[1], 1, x.shape()[2], x.shape()[3]}), g);
}
}  // namespace

Node avg_pool2d(const Node& x, Size2 kernel, Size2 stride, Size2 padding) {
  Conv2dGeometry g;
  const int first = x.graph().size();
  const Node w = windows("avg_pool2d", x, kernel, stride, padding, g);
  const Node out = reshape(mean(w, 1), {x.shape()[0], x.shape()[1], g.out_h(), g.out_w()});
  record_layer(LayerKind::avg_pool2d, {x}, {out}, first).window = Pool2dWindow::of(kernel, stride, padding);
  return out;
}

Node flatten(const Node& x) {
  if (x.rank() < 1) throw ShapeError("flatten of " + x.describe() + ": needs a batch axis");
  return reshape(x, {x.shape()[0], x.shape().numel() / std::max<std::int64_t>(x.shape()[0], 1)});
}

}  // namespace stheno

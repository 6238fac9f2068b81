#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "isa.hpp"
#include "reference.hpp"

using namespace stheno;
using namespace stheno::testing;

namespace {

double unary_reference(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::abs: return std::fabs(x);
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::sigmoid: return x < 0 ? std::exp(x) / (1.0 + std::exp(x)) : 1.0 / (1.0 + std::exp(-x));
    case UnaryOp::relu: return x < 0 ? 0.0 : x;
    case UnaryOp::sign: return std::isnan(x) ? x : x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
    case UnaryOp::step: return x > 0 ? 1.0 : 0.0;
  }
  return NAN;
}

double binary_reference(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::pow: return std::pow(a, b);
    case BinaryOp::maximum: return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case BinaryOp::minimum: return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
    case BinaryOp::sigmoid_grad: return b * a * (1 - a);
    case BinaryOp::tanh_grad: return b * (1 - a * a);
    case BinaryOp::relu_grad: return a > 0 ? b : 0.0;
  }
  return NAN;
}

constexpr UnaryOp kUnaryOps[] = {UnaryOp::neg, UnaryOp::abs, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt,
                                 UnaryOp::square, UnaryOp::tanh, UnaryOp::sigmoid, UnaryOp::relu,
                                 UnaryOp::sign, UnaryOp::step};
constexpr BinaryOp kBinaryOps[] = {BinaryOp::add,     BinaryOp::sub,          BinaryOp::mul,       BinaryOp::div,
                                   BinaryOp::pow,     BinaryOp::maximum,      BinaryOp::minimum,   BinaryOp::sigmoid_grad,
                                   BinaryOp::tanh_grad, BinaryOp::relu_grad};

// Input range where the op is defined and interesting.
void input_range(UnaryOp op, double& lo, double& hi) {
  lo = -30, hi = 30;
  if (op == UnaryOp::log || op == UnaryOp::sqrt) lo = 1e-6, hi = 1e6;
  if (op == UnaryOp::exp) lo = -80, hi = 80;
}

// Within 5 ulp for the transcendental functions, correctly rounded for the rest.
double unary_tolerance(UnaryOp op, DType dtype) {
  const bool transcendental = op == UnaryOp::exp || op == UnaryOp::log || op == UnaryOp::tanh || op == UnaryOp::sigmoid;
  if (dtype == DType::f32) return transcendental ? 6e-7 : 6e-8;
  return transcendental ? 1.1e-15 : 1.2e-16;
}

void expect_unary_matches(UnaryOp op, const Tensor& x, const Tensor& y) {
  const auto in = values(x), out = values(y);
  ASSERT_EQ(in.size(), out.size());
  const double tiny = x.dtype() == DType::f32 ? 1e-45 : 5e-324;
  for (std::size_t i = 0; i < in.size(); ++i) {
    // The reference rounded to the dtype, so that overflow to inf and underflow agree.
    const double want = x.dtype() == DType::f32 ? static_cast<float>(unary_reference(op, in[i])) : unary_reference(op, in[i]);
    ASSERT_TRUE(near(out[i], want, unary_tolerance(op, x.dtype()), tiny))
        << op_name(op) << "(" << in[i] << ") = " << out[i] << ", expected " << want;
  }
}

}  // namespace

class PerIsa : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { cpu::use_isa(GetParam()); }
  void TearDown() override { cpu::use_isa(supported_isas().front()); }
};

INSTANTIATE_TEST_SUITE_P(Isa, PerIsa, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return info.param; });

TEST_P(PerIsa, UnaryOpsMatchReferenceOnAllLayoutsAndSizes) {
  Generator gen(11);
  for (DType dtype : {DType::f32, DType::f64})
    for (UnaryOp op : kUnaryOps)
      for (const Shape& shape : {Shape{}, Shape{0}, Shape{1}, Shape{7}, Shape{3, 33}, Shape{2, 5, 17}, Shape{40000}})
        for (int layout : {0, 1, 2}) {
          SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(dtype)) + " " + shape.str() + " " + layout_name(layout));
          double lo, hi;
          input_range(op, lo, hi);
          const Tensor x = random_tensor(shape, dtype, gen, layout, lo, hi);
          expect_unary_matches(op, x, unary(op, x));
          // The out form into a strided view, and the in-place form.
          const Tensor out = random_tensor(shape, dtype, gen, 1);
          unary(op, x, out);
          expect_unary_matches(op, x, out);
          const Tensor copy = x.clone();
          unary(op, copy, copy);
          expect_unary_matches(op, x, copy);
        }
}

TEST_P(PerIsa, TranscendentalSpecialValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> specials = {0.0, -0.0, 1.0, -1.0, inf, -inf, NAN, 1e-40, 1e-310, 88.5, 88.8, -87.5,
                                        -100.0, -104.5, 700.0, 709.9, -740.0, -746.0, 1e-8, -1e-8, 0.5, 20.0, -20.0};
  for (DType dtype : {DType::f32, DType::f64}) {
    // Convert first so that the reference sees exactly the value the kernel sees.
    const Tensor x = Tensor::from<double>(specials).to(dtype);
    for (UnaryOp op : {UnaryOp::exp, UnaryOp::tanh, UnaryOp::sigmoid, UnaryOp::sqrt, UnaryOp::relu, UnaryOp::sign, UnaryOp::step}) {
      SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(dtype)));
      expect_unary_matches(op, x, unary(op, x));
    }
    const Tensor positive = abs(x);
    SCOPED_TRACE(std::string("log ") + std::string(dtype_name(dtype)));
    expect_unary_matches(UnaryOp::log, positive, log(positive));
    const Tensor negative = Tensor::from<double>({-1.0, -1e-30}).to(dtype);
    for (double v : values(log(negative))) EXPECT_TRUE(std::isnan(v));
  }
}

TEST_P(PerIsa, ExpAndLogAreAccurateAcrossTheirRange) {
  // A dense sweep over the float64 range catches a wrong polynomial or reduction step.
  const Tensor x = Tensor::arange(-700, 700, 0.0137, DType::f64);
  expect_unary_matches(UnaryOp::exp, x, exp(x));
  const Tensor p = exp(Tensor::arange(-300, 300, 0.011, DType::f64));
  expect_unary_matches(UnaryOp::log, p, log(p));
  const Tensor f = Tensor::arange(-87, 88, 0.0013, DType::f32);
  expect_unary_matches(UnaryOp::exp, f, exp(f));
  expect_unary_matches(UnaryOp::tanh, f, tanh(f));
  expect_unary_matches(UnaryOp::sigmoid, f, sigmoid(f));
}

TEST_P(PerIsa, BinaryOpsBroadcastLikeNumPy) {
  Generator gen(12);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{}, {}}, {{5}, {}}, {{}, {5}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}}, {{0, 3}, {3}},
      {{1}, {0}}, {{4, 1, 5}, {1, 6, 1}}, {{7, 33}, {7, 33}}, {{1, 40000}, {40000}}, {{300, 130}, {300, 1}}};
  for (DType dtype : {DType::f32, DType::f64})
    for (BinaryOp op : kBinaryOps)
      for (const auto& [sa, sb] : cases)
        for (int la : {0, 1, 2})
          for (int lb : {0, 2}) {
            SCOPED_TRACE(std::string(op_name(op)) + " " + std::string(dtype_name(dtype)) + " " + sa.str() + " " +
                         sb.str() + " " + layout_name(la) + "/" + layout_name(lb));
            const double lo = op == BinaryOp::pow ? 0.1 : -3;
            const Tensor a = random_tensor(sa, dtype, gen, la, lo, 3);
            const Tensor b = random_tensor(sb, dtype, gen, lb, op == BinaryOp::pow ? -2 : -3, 3);
            const Tensor y = binary(op, a, b);
            ASSERT_EQ(y.shape(), broadcast_shapes(sa, sb, "test"));
            const Tensor ea = a.expand(y.shape()), eb = b.expand(y.shape());
            const double tol = dtype == DType::f32 ? 4e-7 : 4e-16;
            const bool cancels = op == BinaryOp::sigmoid_grad || op == BinaryOp::tanh_grad;
            for_each_index(y.shape(), [&](const std::vector<std::int64_t>& i) {
              const double u = ea.at(i), v = eb.at(i);
              // 1 − y² and y·(1 − y) cancel, and may be computed with a fused multiply-add:
              // compare with the size of the terms, not of the result.
              const double abs_tol = cancels ? tol * std::fabs(v) * (1 + u * u) : 1e-300;
              ASSERT_TRUE(near(y.at(i), binary_reference(op, u, v), tol, abs_tol)) << "at element " << ::testing::PrintToString(i);
            });
          }
}

TEST(Elementwise, NaNPropagatesThroughMaximumAndMinimum) {
  const Tensor a = Tensor::from<float>({NAN, 1.f, 2.f});
  const Tensor b = Tensor::from<float>({0.f, NAN, 1.f});
  const auto mx = values(maximum(a, b)), mn = values(minimum(a, b));
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]) && mx[2] == 2);
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]) && mn[2] == 1);
}

TEST(Elementwise, InPlaceAndOutForms) {
  const Tensor a = Tensor::arange(0, 6, 1, DType::f64).reshape({2, 3});
  add_(a, Tensor::from<double>({10, 20, 30}));
  EXPECT_EQ(values(a), (std::vector<double>{10, 21, 32, 13, 24, 35}));
  // In place needs the result to keep a's shape.
  EXPECT_THROW(add_(Tensor::zeros({3}, DType::f64), Tensor::zeros({2, 3}, DType::f64)), ShapeError);
  // Out may overlap an input in another layout: the input is read before it is overwritten.
  const Tensor m = Tensor::arange(0, 4, 1, DType::f64).reshape({2, 2});
  add(m, m.t(), m);
  EXPECT_EQ(values(m), (std::vector<double>{0, 3, 3, 6}));
  // A single element of out broadcast over out is read before any of out is written.
  const Tensor v = Tensor::from<double>({1, 2, 3});
  add(v, v.slice(0, 0, 1), v);
  EXPECT_EQ(values(v), (std::vector<double>{2, 3, 4}));
  mul(v.slice(0, 2, 3).reshape({1, 1}), v.reshape({1, 3}), v.reshape({1, 3}));
  EXPECT_EQ(values(v), (std::vector<double>{8, 12, 16}));
  // A single element of higher rank than out makes the result bigger than out.
  EXPECT_THROW(add(Tensor::zeros({2, 3}), Tensor::ones({1, 1, 1}), Tensor::zeros({2, 3})), ShapeError);
  const Tensor x = Tensor::from<float>({-1.f, 4.f});
  sqrt_(abs(x));  // on a temporary: fine, nothing else sees it
  relu_(x);
  EXPECT_EQ(values(x), (std::vector<double>{0, 4}));
}

TEST(Elementwise, Int32Arithmetic) {
  const Tensor a = Tensor::from<std::int32_t>({7, -7, INT32_MAX, INT32_MIN, 3});
  const Tensor b = Tensor::from<std::int32_t>({2, 2, 1, -1, -1});
  EXPECT_EQ(values(add(a, b)), (std::vector<double>{9, -5, INT32_MIN, 2147483647.0, 2}));  // wraps
  EXPECT_EQ(values(div(a, b)), (std::vector<double>{3, -3, INT32_MAX, INT32_MIN, -3}));   // truncates
  EXPECT_EQ(values(pow(Tensor::from<std::int32_t>({2, -2, 5, 1, -1}), Tensor::from<std::int32_t>({10, 3, -1, -5, -3}))),
            (std::vector<double>{1024, -8, 0, 1, -1}));
  EXPECT_EQ(values(abs(a)), (std::vector<double>{7, 7, INT32_MAX, INT32_MIN, 3}));
  EXPECT_EQ(values(relu(a)), (std::vector<double>{7, 0, INT32_MAX, 0, 3}));
  EXPECT_EQ(values(sign(a)), (std::vector<double>{1, -1, 1, -1, 1}));
  EXPECT_EQ(values(step(a)), (std::vector<double>{1, 0, 1, 0, 1}));
  EXPECT_EQ(values(maximum(a, b)), (std::vector<double>{7, 2, INT32_MAX, -1, 3}));
}

TEST(Elementwise, ErrorsNameTheOpAndOperands) {
  const Tensor f = Tensor::zeros({2, 3});
  try {
    add(f, Tensor::zeros({2, 3}, DType::f64));
    FAIL();
  } catch (const DTypeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("add"), std::string::npos);
    EXPECT_NE(msg.find("float32"), std::string::npos);
    EXPECT_NE(msg.find("float64"), std::string::npos);
  }
  try {
    mul(f, Tensor::zeros({4}));
    FAIL();
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mul"), std::string::npos);
    EXPECT_NE(msg.find("(2, 3)"), std::string::npos);
    EXPECT_NE(msg.find("(4,)"), std::string::npos);
  }
  EXPECT_THROW(exp(f, Tensor::zeros({3, 2})), ShapeError);
  EXPECT_THROW(exp(f, Tensor::zeros({2, 3}, DType::f64)), DTypeError);
  EXPECT_THROW(exp(Tensor::zeros({2}, DType::i32)), DTypeError);
  EXPECT_THROW(div(Tensor::ones({2}, DType::i32), Tensor::from<std::int32_t>({1, 0})), ValueError);
  EXPECT_THROW(neg(Tensor()), ValueError);
}

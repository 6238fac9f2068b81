// The comparison suite: every kernel a device backend has, run on that device and on the host
// from the same inputs, with per-kernel tolerances; strided, transposed and broadcast operands
// and size-0/size-1 edges included. Devices that are not present are skipped, not passed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>

#include "allocation_counter.hpp"
#include "reference.hpp"
#include "stheno/kernels/backend.hpp"
#include "stheno/stheno.hpp"

namespace stheno {
namespace {

using testing::random_tensor;

// The devices to compare against the host: every OpenCL device the build and machine have, or
// the one kind STHENO_TEST_DEVICE names ("cuda" for the CUDA run of this suite).
std::vector<Device> devices_under_test() {
  const char* only = std::getenv("STHENO_TEST_DEVICE");
  const Device device = Device::parse(only ? only : "opencl");
  std::vector<Device> out;
  try {
    backend(device);
    out.push_back(device);
  } catch (const DeviceError&) {
  }
  return out;
}

// The CUDA run of this suite (CTest's cuda.backends) on a machine without a usable GPU: exit 77
// before any test, which CTest reports as skipped, never as passed.
const bool cuda_run_without_a_gpu = [] {
  const char* only = std::getenv("STHENO_TEST_DEVICE");
  if (!only || Device::parse(only).kind != DeviceKind::cuda) return false;
  try {
    device_runtime(Device::parse(only));
  } catch (const DeviceError& e) {
    std::printf("skipped: %s\n", e.what());
    std::exit(77);
  }
  return false;
}();

// Values rounded to multiples of 0.5, on the tensor's device: pooling windows then hold ties.
Tensor round_to_halves(const Tensor& t) {
  const Tensor host = t.to(Device::cpu()).contiguous();
  Tensor r = host.clone();
  float* p = r.data<float>();
  for (std::int64_t i = 0; i < r.numel(); ++i) p[i] = std::round(p[i] * 2) / 2;
  return r.to(t.device());
}

class Backends : public ::testing::Test {
 protected:
  void SetUp() override {
    devices_ = devices_under_test();
    if (devices_.empty()) GTEST_SKIP() << "no device backend here (no OpenCL platform or built without OpenCL)";
  }
  // Runs `fn` on host tensors and on copies of them on each device, and compares every result.
  void compare(const std::string& what, const std::vector<Tensor>& inputs,
               const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn, double rtol = 1e-5,
               double atol = 1e-6) {
    const std::vector<Tensor> expected = fn(inputs);
    for (Device d : devices_) {
      std::vector<Tensor> moved;
      for (const Tensor& t : inputs) moved.push_back(on(t, d));
      const std::vector<Tensor> got = fn(moved);
      ASSERT_EQ(got.size(), expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].device(), d) << what << ": result " << i << " left the device";
        const Tensor host = got[i].to(Device::cpu());
        ASSERT_EQ(host.shape(), expected[i].shape()) << what;
        ASSERT_EQ(host.dtype(), expected[i].dtype()) << what;
        EXPECT_TRUE(allclose(host, expected[i], rtol, atol, true))
            << what << " on " << d.str() << ", result " << i << ":\n  device " << host << "\n  host   " << expected[i];
      }
    }
  }
  // A copy on `d` with the same strides as `t` where `t` is a view (so that layouts survive).
  static Tensor on(const Tensor& t, Device d) {
    if (t.is_contiguous()) return t.to(d);
    // Rebuild the view over a device copy of its whole storage.
    const std::int64_t elements = static_cast<std::int64_t>(t.storage()->bytes() / itemsize(t.dtype()));
    const Tensor whole = Tensor::borrow(t.storage()->data(), Shape{elements}, t.dtype()).to(d);
    return whole.as_strided(t.shape(), t.strides(), t.offset());
  }
  std::vector<Device> devices_;
  Generator gen_{7};
};

TEST_F(Backends, CopiesConvertAndFill) {
  for (DType from : {DType::f32, DType::f64, DType::i32})
    for (DType to : {DType::f32, DType::f64, DType::i32})
      for (int layout : {0, 1, 2})
        compare(std::string("copy ") + std::string(dtype_name(from)) + " to " + std::string(dtype_name(to)),
                {random_tensor({3, 5}, from == DType::i32 ? DType::f64 : from, gen_, layout, -50, 50).to(from)},
                [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{in[0].to(to)}; });
  compare("fill of a strided slice", {Tensor::zeros({4, 6})}, [](const std::vector<Tensor>& in) {
    Tensor t = in[0].clone();
    t.slice(1, 1, 6, 2).fill(2.5);
    return std::vector<Tensor>{t};
  });
  compare("broadcast copy_from", {Tensor::zeros({3, 4}), random_tensor({4}, DType::f32, gen_)},
          [](const std::vector<Tensor>& in) {
            Tensor t = in[0].clone();
            t.copy_from(in[1]);
            return std::vector<Tensor>{t};
          });
  compare("transposing copy within one storage", {random_tensor({4, 4}, DType::f32, gen_)}, [](const std::vector<Tensor>& in) {
    Tensor t = in[0].clone();
    t.copy_from(t.t());
    return std::vector<Tensor>{t};
  });
}

TEST_F(Backends, UnaryOps) {
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::abs, UnaryOp::exp, UnaryOp::log, UnaryOp::sqrt, UnaryOp::square,
                     UnaryOp::tanh, UnaryOp::sigmoid, UnaryOp::relu, UnaryOp::sign, UnaryOp::step})
    for (DType dtype : {DType::f32, DType::f64})
      for (int layout : {0, 1, 2}) {
        const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt;
        compare(std::string(op_name(op)), {random_tensor({5, 7}, dtype, gen_, layout, positive ? 0.1 : -3, 3)},
                [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{unary(op, in[0])}; });
      }
  compare("relu of size 0 and size 1", {Tensor::zeros({0, 3}), Tensor::full({1, 1}, -2.0)},
          [](const std::vector<Tensor>& in) { return std::vector<Tensor>{relu(in[0]), relu(in[1])}; });
  compare("sigmoid in place on a transposed view", {random_tensor({4, 6}, DType::f32, gen_)}, [](const std::vector<Tensor>& in) {
    Tensor t = in[0].clone();
    sigmoid_(t.t());
    return std::vector<Tensor>{t};
  });
}

TEST_F(Backends, BinaryOpsBroadcast) {
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::pow, BinaryOp::maximum,
                      BinaryOp::minimum, BinaryOp::sigmoid_grad, BinaryOp::tanh_grad, BinaryOp::relu_grad})
    for (DType dtype : {DType::f32, DType::f64}) {
      const double lo = op == BinaryOp::pow ? 0.2 : -3;
      compare(std::string(op_name(op)) + " (N, C) with (C,)",
              {random_tensor({6, 5}, dtype, gen_, 2, lo, 3), random_tensor({5}, dtype, gen_, 0, 0.5, 2)},
              [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{binary(op, in[0], in[1])}; });
      compare(std::string(op_name(op)) + " (3, 1) with (1, 4)",
              {random_tensor({3, 1}, dtype, gen_, 0, 0.5, 2), random_tensor({1, 4}, dtype, gen_, 1, lo, 3)},
              [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{binary(op, in[0], in[1])}; });
    }
  compare("add into a strided out, in place", {random_tensor({4, 6}, DType::f32, gen_), random_tensor({6}, DType::f32, gen_)},
          [](const std::vector<Tensor>& in) {
            Tensor t = in[0].clone();
            add_(t, in[1]);
            Tensor u = Tensor::zeros({4, 12}, DType::f32, t.device());
            add(t, in[1], u.slice(1, 0, 12, 2));
            return std::vector<Tensor>{t, u};
          });
}

TEST_F(Backends, Reductions) {
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max})
    for (const Axes& axes : {Axes{}, Axes{0}, Axes{1}, Axes{-1}, Axes{0, 2}})
      for (bool keepdims : {false, true})
        for (int layout : {0, 2})
          compare("reduce", {random_tensor({4, 3, 5}, DType::f32, gen_, layout)},
                  [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{reduce(op, in[0], axes, keepdims)}; },
                  1e-5, 1e-5);
  compare("sum over an empty axis", {Tensor::zeros({0, 3})},
          [](const std::vector<Tensor>& in) { return std::vector<Tensor>{sum(in[0], 0)}; });
  for (int axis : {0, 1})
    compare("argmax", {random_tensor({6, 9}, DType::f64, gen_, 2)},
            [&](const std::vector<Tensor>& in) { return std::vector<Tensor>{argmax(in[0], axis), argmax(in[0])}; });
  const Tensor with_nan = Tensor::from<float>({1, 2, 0, 3}, {2, 2});
  with_nan.data<float>()[2] = NAN;
  compare("max and argmax with NaN", {with_nan},
          [](const std::vector<Tensor>& in) { return std::vector<Tensor>{max(in[0], 1), argmax(in[0], 1)}; });
}

TEST_F(Backends, MatrixProducts) {
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-4 : 1e-10;
    for (int la : {0, 1, 2})
      for (int lb : {0, 1, 2})
        compare("matmul (5, 7)·(7, 3)", {random_tensor({5, 7}, dtype, gen_, la), random_tensor({7, 3}, dtype, gen_, lb)},
                [](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], in[1])}; }, tol, tol);
    compare("batched, broadcast", {random_tensor({2, 5, 7}, dtype, gen_), random_tensor({7, 3}, dtype, gen_)},
            [](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], in[1]), matmul(in[1].t(), in[0].transpose(1, 2))}; },
            tol, tol);
    compare("vectors", {random_tensor({5, 7}, dtype, gen_), random_tensor({7}, dtype, gen_), random_tensor({5}, dtype, gen_)},
            [](const std::vector<Tensor>& in) {
              return std::vector<Tensor>{matmul(in[0], in[1]), matmul(in[2], in[0]), matmul(in[1], in[1]), outer(in[2], in[1])};
            },
            tol, tol);
    compare("alpha and beta into a strided out", {random_tensor({5, 7}, dtype, gen_), random_tensor({7, 3}, dtype, gen_),
                                                  random_tensor({3, 5}, dtype, gen_)},
            [](const std::vector<Tensor>& in) {
              Tensor c = in[2].clone();
              matmul(in[0], in[1], c.t(), 0.5, 2.0);
              return std::vector<Tensor>{c};
            },
            tol, tol);
    compare("k = 0 and m = 0", {Tensor::zeros({3, 0}, dtype), Tensor::zeros({0, 4}, dtype), Tensor::zeros({0, 3}, dtype)},
            [](const std::vector<Tensor>& in) { return std::vector<Tensor>{matmul(in[0], in[1]), matmul(in[2], in[0].t().t())}; });
  }
}

TEST_F(Backends, SoftmaxAndLosses) {
  for (bool log_form : {false, true})
    for (int axis : {0, 1, -1})
      for (int layout : {0, 2})
        compare(log_form ? "log_softmax" : "softmax", {random_tensor({5, 8}, DType::f32, gen_, layout, -30, 30)},
                [&](const std::vector<Tensor>& in) {
                  return std::vector<Tensor>{log_form ? log_softmax(in[0], axis) : softmax(in[0], axis)};
                });
  const Tensor labels = Tensor::from<std::int32_t>({3, 0, 9, 4, 4, 1});
  for (DType dtype : {DType::f32, DType::f64}) {
    compare("softmax_cross_entropy with labels", {random_tensor({6, 10}, dtype, gen_, 0, -20, 20), labels},
            [&](const std::vector<Tensor>& in) {
              Tensor out = Tensor::empty({}, dtype, in[0].device());
              softmax_cross_entropy(in[0], in[1], out);
              Tensor hot = Tensor::empty({6, 10}, dtype, in[0].device());
              one_hot(in[1], hot);
              return std::vector<Tensor>{out, hot};
            });
    compare("softmax_cross_entropy with soft targets", {random_tensor({6, 10}, dtype, gen_, 1), random_tensor({6, 10}, dtype, gen_, 2, 0, 1)},
            [&](const std::vector<Tensor>& in) {
              Tensor out = Tensor::empty({}, dtype, in[0].device());
              softmax_cross_entropy(in[0], in[1], out);
              return std::vector<Tensor>{out};
            });
  }
}

TEST_F(Backends, ConvolutionsAndTheirAdjoints) {
  Conv2dGeometry g;
  g.channels = 3, g.height = 9, g.width = 8, g.kernel_h = 3, g.kernel_w = 2, g.stride_h = 2, g.stride_w = 1,
  g.pad_h = 1, g.pad_w = 1, g.dilation_h = 1, g.dilation_w = 2;
  const std::int64_t k = g.channels * g.kernel_h * g.kernel_w, p = g.out_h() * g.out_w();
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-4 : 1e-10;
    compare("im2col and col2im, batched and single", {random_tensor({2, 3, 9, 8}, dtype, gen_)},
            [&](const std::vector<Tensor>& in) {
              const Tensor cols = im2col(in[0], g);
              return std::vector<Tensor>{cols, col2im(cols, g), im2col(in[0].select(0, 1), g)};
            }, tol, tol);
    compare("conv2d forward and gradients",
            {random_tensor({4, 3, 9, 8}, dtype, gen_), random_tensor({5, k}, dtype, gen_), random_tensor({5}, dtype, gen_),
             random_tensor({4, 5, p}, dtype, gen_)},
            [&](const std::vector<Tensor>& in) {
              const Device d = in[0].device();
              Tensor y = Tensor::empty({4, 5, p}, dtype, d), dx = Tensor::empty({4, 3, 9, 8}, dtype, d),
                     dw = Tensor::empty({5, k}, dtype, d), y0 = Tensor::empty({4, 5, p}, dtype, d);
              conv2d_forward(in[0], in[1], in[2], g, y);
              conv2d_forward(in[0], in[1], Tensor(), g, y0);
              conv2d_backward_input(in[3], in[1], g, dx);
              conv2d_backward_weight(in[0], in[3], g, dw);
              return std::vector<Tensor>{y, y0, dx, dw};
            }, tol, tol);
  }
}

TEST_F(Backends, MaxPoolingAndChannelMoments) {
  for (const Pool2dWindow& w : {Pool2dWindow::of(2, 0, 0), Pool2dWindow::of(3, 2, 1), Pool2dWindow::of({3, 2}, 1, {1, 0})})
    compare("max_pool2d " + w.str(), {random_tensor({2, 3, 7, 6}, DType::f32, gen_), random_tensor({2, 3, 7, 6}, DType::f32, gen_)},
            [&](const std::vector<Tensor>& in) {
              const Device d = in[0].device();
              // Ties: a quantised input has repeated maxima, which must go to the same (first) tap.
              const Tensor x = round_to_halves(in[0]);
              Tensor y = Tensor::empty({2, 3, w.out_h(7), w.out_w(6)}, DType::f32, d);
              max_pool2d(x, w, y);
              Tensor dx = Tensor::empty(x.shape(), DType::f32, d);
              max_pool2d_backward(x, y, in[1].slice(2, 0, w.out_h(7)).slice(3, 0, w.out_w(6)).contiguous(), w, dx);
              return std::vector<Tensor>{y, dx};
            });
  compare("channel moments and running statistics",
          {random_tensor({4, 3, 5, 5}, DType::f32, gen_, 0, 100, 102), Tensor::zeros({3}), Tensor::ones({3})},
          [](const std::vector<Tensor>& in) {
            const Device d = in[0].device();
            Tensor stats = Tensor::empty({2, 3}, DType::f32, d);
            channel_moments(in[0], stats.select(0, 0), stats.select(0, 1));
            Tensor rm = in[1].clone(), rv = in[2].clone();
            update_running_moments(stats.select(0, 0), stats.select(0, 1), rm, rv, 0.1, 100.0 / 99.0);
            return std::vector<Tensor>{stats, rm, rv};
          },
          1e-5, 1e-4);
}

TEST_F(Backends, RecurrentCellsAndEmbeddings) {
  for (DType dtype : {DType::f32, DType::f64}) {
    const double tol = dtype == DType::f32 ? 1e-5 : 1e-12;
    // Row-strided operands: each is a column slice of a wider matrix.
    compare("lstm cell and its gradient",
            {random_tensor({3, 23}, dtype, gen_), random_tensor({3, 7}, dtype, gen_), random_tensor({3, 10}, dtype, gen_)},
            [&](const std::vector<Tensor>& in) {
              const Device d = in[0].device();
              Tensor state = Tensor::empty({3, 10}, dtype, d), out = Tensor::zeros({3, 30}, dtype, d);
              const Tensor gates = in[0].slice(1, 2, 22);
              lstm_cell(gates, in[1].slice(1, 0, 5), state);
              lstm_cell_backward(gates, in[1].slice(1, 2, 7), state, in[2], out.slice(1, 1, 26));
              return std::vector<Tensor>{state, out};
            }, tol, tol);
    compare("gru cell and its gradient",
            {random_tensor({4, 12}, dtype, gen_), random_tensor({4, 12}, dtype, gen_), random_tensor({4, 4}, dtype, gen_),
             random_tensor({4, 4}, dtype, gen_)},
            [&](const std::vector<Tensor>& in) {
              const Device d = in[0].device();
              Tensor h = Tensor::empty({4, 4}, dtype, d), out = Tensor::empty({4, 28}, dtype, d);
              gru_cell(in[0], in[1], in[2], h);
              gru_cell_backward(in[0], in[1], in[2], in[3], out);
              return std::vector<Tensor>{h, out};
            }, tol, tol);
    compare("gather and scatter-add rows, repeated indices",
            {random_tensor({6, 5}, dtype, gen_), Tensor::from<std::int32_t>({5, 0, 2, 2, 5, 1}, {2, 3}), random_tensor({6, 5}, dtype, gen_)},
            [&](const std::vector<Tensor>& in) {
              const Device d = in[0].device();
              Tensor rows = Tensor::empty({2, 3, 5}, dtype, d), table = Tensor::empty({6, 5}, dtype, d);
              gather_rows(in[0], in[1], rows);
              scatter_add_rows(in[2], in[1], table);
              return std::vector<Tensor>{rows, table};
            }, tol, tol);
  }
  for (Device d : devices_) {
    Tensor rows = Tensor::empty({2, 5}, DType::f32, d);
    gather_rows(Tensor::ones({3, 5}, DType::f32, d), Tensor::from<std::int32_t>({0, 3}).to(d), rows);
    EXPECT_THROW(rows.item<float>(), Error) << "an index outside the table must not pass unnoticed";
    EXPECT_THROW(device_runtime(d).synchronize(), IndexError);
  }
}

TEST_F(Backends, LabelsOutOfRangeAreAnErrorAtTheNextSynchronisation) {
  for (Device d : devices_) {
    const Tensor logits = Tensor::zeros({2, 3}, DType::f32, d);
    const Tensor bad = Tensor::from<std::int32_t>({1, 3}).to(d);
    Tensor out = Tensor::empty({}, DType::f32, d);
    softmax_cross_entropy(logits, bad, out);
    EXPECT_THROW(out.item<float>(), IndexError);
    // The flag is cleared once reported.
    softmax_cross_entropy(logits, Tensor::from<std::int32_t>({1, 2}).to(d), out);
    EXPECT_NEAR(out.item<float>(), std::log(3.0), 1e-6);
  }
}

TEST_F(Backends, OptimizerUpdates) {
  for (DType dtype : {DType::f32, DType::f64}) {
    const auto state = [&] {
      return std::vector<Tensor>{random_tensor({7, 3}, dtype, gen_), random_tensor({7, 3}, dtype, gen_),
                                 random_tensor({7, 3}, dtype, gen_, 0, 0, 1), random_tensor({7, 3}, dtype, gen_, 0, 0, 1)};
    };
    const auto run = [&](const char* what, const std::function<void(const std::vector<Tensor>&)>& step) {
      compare(what, state(), [&](const std::vector<Tensor>& in) {
        std::vector<Tensor> s;
        for (const Tensor& t : in) s.push_back(t.clone());
        for (int i = 0; i < 3; ++i) step(s);
        return s;
      });
    };
    run("sgd", [](const auto& s) { sgd_update(s[0], s[1], Tensor(), 0.1, 0, false, 0.01); });
    run("momentum", [](const auto& s) { sgd_update(s[0], s[1], s[2], 0.1, 0.9, false, 0.01); });
    run("nesterov", [](const auto& s) { sgd_update(s[0], s[1], s[2], 0.1, 0.9, true, 0); });
    run("adagrad", [](const auto& s) { adagrad_update(s[0], s[1], s[2], 0.1, 1e-8, 0.01); });
    run("rmsprop", [](const auto& s) { rmsprop_update(s[0], s[1], s[2], s[3], 0.01, 0.99, 1e-8, 0.9, 0); });
    run("adam", [](const auto& s) { adam_update(s[0], s[1], s[2], s[3], 1e-3, 0.9, 0.999, 1e-8, 0, false, 3); });
    run("adamw", [](const auto& s) { adam_update(s[0], s[1], s[2], s[3], 1e-3, 0.9, 0.999, 1e-8, 0.1, true, 1); });
    compare("gradient clipping", {random_tensor({300, 7}, dtype, gen_)}, [](const std::vector<Tensor>& in) {
      Tensor g = in[0].clone();
      const double total = gradient_sum_of_squares(g);
      scale_gradient(g, 0.5);
      return std::vector<Tensor>{g, Tensor::scalar(total, DType::f64, g.device())};
    });
  }
}

TEST_F(Backends, FinitenessChecks) {
  for (Device d : devices_) {
    Tensor t = Tensor::ones({1000}, DType::f32, d);
    EXPECT_TRUE(all_finite(t));
    t.slice(0, 999, 1000).fill(INFINITY);
    EXPECT_FALSE(all_finite(t));
  }
}

TEST_F(Backends, OperandsOnDifferentDevicesAreAnErrorNamingBoth) {
  for (Device d : devices_) {
    const Tensor a = Tensor::ones({2, 2}), b = Tensor::ones({2, 2}, DType::f32, d);
    try {
      (void)add(a, b);
      FAIL() << "add across devices did not throw";
    } catch (const DeviceError& e) {
      EXPECT_NE(std::string(e.what()).find("first operand is on cpu"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("second operand on " + d.str()), std::string::npos) << e.what();
    }
    EXPECT_THROW((void)b.data<float>(), DeviceError);
    EXPECT_NE(b.str().find("on " + d.str()), std::string::npos);
    EXPECT_DOUBLE_EQ(b.at({1, 1}), 1.0);
  }
}

// A small MLP trained for a few steps on the host and on each device from the same start.
struct MlpRun {
  std::vector<double> losses;
  std::vector<Tensor> params;
  std::int64_t device_allocations_in_later_steps = -1, host_allocations_in_later_steps = -1;
  // Of those host allocations, the ones stheno made (outside calls into the driver or the BLAS;
  // on a device, on the thread that ran the steps), and the launches the later steps made.
  std::int64_t own_host_allocations_in_later_steps = -1, launches_in_later_steps = -1;
};

MlpRun train_mlp(Device device, int steps, const char* optimizer) {
  Generator gen(3);
  nn::Sequential net;
  net.add(std::make_shared<nn::Linear>(20, 16, gen, nn::Init::he_uniform)).add(nn::activation(UnaryOp::relu))
      .add(std::make_shared<nn::Linear>(16, 5, gen));
  net.to(device);
  Graph g;
  const Node x = g.input("x", {8, 20}), y = g.input("labels", {8}, DType::i32);
  const Node loss = nn::cross_entropy(net(x), y);
  const auto params = net.trainable_parameters();
  std::unique_ptr<optim::Optimizer> opt;
  if (std::string(optimizer) == "adam") opt = std::make_unique<optim::Adam>(nn::values_of(params), 1e-2);
  else opt = std::make_unique<optim::SGD>(nn::values_of(params), 0.1, 0.9);
  optim::TrainingStep step(loss, nn::nodes_of(g, params), *opt);
  const Tensor inputs = Tensor::normal({8, 20}, gen).to(device);
  const Tensor labels = Tensor::from<std::int32_t>({0, 1, 2, 3, 4, 0, 1, 2}).to(device);
  step.machine().bind(x, inputs);
  step.machine().bind(y, labels);
  MlpRun run;
  run.losses.reserve(static_cast<std::size_t>(steps));
  std::int64_t device_before = 0, launches_before = 0;
  std::optional<testing::AllocationCounter> host;
  for (int i = 0; i < steps; ++i) {
    if (i == 2) {
      device_before = device.is_host() ? 0 : device_runtime(device).allocations();
      launches_before = device.is_host() ? 0 : device_runtime(device).launches();
      host.emplace();
    }
    run.losses.push_back(step.run());
  }
  if (host) {
    run.host_allocations_in_later_steps = host->count();
    run.own_host_allocations_in_later_steps =
        device.is_host() ? host->outside_driver_calls() : host->outside_driver_calls_on_this_thread();
    run.device_allocations_in_later_steps = device.is_host() ? 0 : device_runtime(device).allocations() - device_before;
    run.launches_in_later_steps = device.is_host() ? 0 : device_runtime(device).launches() - launches_before;
  }
  for (const nn::Parameter* p : params) run.params.push_back(p->value.to(Device::cpu()));
  return run;
}

TEST_F(Backends, TrainingStepsMatchTheHostAndAllocateNothingOnTheDevice) {
  for (const char* optimizer : {"adam", "momentum"}) {
    const MlpRun host = train_mlp(Device::cpu(), 6, optimizer);
    for (Device d : devices_) {
      const MlpRun dev = train_mlp(d, 6, optimizer);
      for (std::size_t i = 0; i < host.losses.size(); ++i) EXPECT_NEAR(dev.losses[i], host.losses[i], 1e-4) << optimizer << " step " << i;
      for (std::size_t i = 0; i < host.params.size(); ++i)
        EXPECT_TRUE(allclose(dev.params[i], host.params[i], 1e-4, 1e-5)) << optimizer << " parameter " << i;
      EXPECT_LT(host.losses.back(), host.losses.front()) << "the test's model must learn something";
      EXPECT_EQ(dev.device_allocations_in_later_steps, 0) << d.str();
      if (testing::allocation_counting_available()) {
        EXPECT_EQ(dev.own_host_allocations_in_later_steps, 0) << optimizer << " on " << d.str();
        EXPECT_EQ(host.own_host_allocations_in_later_steps, 0) << optimizer << " on the host";
      }
      std::cout << optimizer << " on " << d.str() << ": in 4 steps, " << dev.own_host_allocations_in_later_steps
                << " host allocations by stheno and "
                << dev.host_allocations_in_later_steps - dev.own_host_allocations_in_later_steps << " by the driver ("
                << dev.launches_in_later_steps << " launches)\n";
    }
  }
}

// Two dropout layers in one step: each mask goes up from its own staging region behind the
// kernels before it, so neither is overwritten by the other or by the next step's; the steps
// match the host's, whose masks come from the same seeds.
TEST_F(Backends, StepsWithTwoDropoutMasksMatchTheHost) {
  auto run = [](Device device) {
    Generator gen(9);
    nn::Sequential net;
    net.add(std::make_shared<nn::Linear>(20, 16, gen)).add(nn::activation(UnaryOp::relu))
        .add(std::make_shared<nn::Dropout>(0.5, 11)).add(std::make_shared<nn::Linear>(16, 12, gen))
        .add(std::make_shared<nn::Dropout>(0.25, 12)).add(std::make_shared<nn::Linear>(12, 5, gen));
    net.to(device);
    Graph g;
    const Node x = g.input("x", {8, 20}), y = g.input("labels", {8}, DType::i32);
    const auto params = net.trainable_parameters();
    optim::SGD sgd(nn::values_of(params), 0.2);
    optim::TrainingStep step(nn::cross_entropy(net(x), y), nn::nodes_of(g, params), sgd);
    step.machine().let(x, Tensor::normal({8, 20}, gen));
    step.machine().let(y, Tensor::from<std::int32_t>({0, 1, 2, 3, 4, 0, 1, 2}));
    std::vector<double> losses;
    for (int i = 0; i < 5; ++i) losses.push_back(step.run());
    return losses;
  };
  const std::vector<double> host = run(Device::cpu());
  for (Device d : devices_) {
    const std::vector<double> dev = run(d);
    for (std::size_t i = 0; i < host.size(); ++i) EXPECT_NEAR(dev[i], host[i], 1e-5) << d.str() << " step " << i;
  }
}

// Batches that change every step, fed with let() before each step or staged during the step
// before (uploaded while it runs): the same losses, and staging allocates nothing after its first use.
TEST_F(Backends, StagedBatchesGiveTheSameStepsAsCopiedOnes) {
  for (Device d : devices_) {
    std::vector<double> losses[2];
    std::int64_t allocations_after_warmup = -1;
    for (int staged = 0; staged < 2; ++staged) {
      Generator gen(5);
      nn::Linear layer(12, 4, gen);
      layer.to(d);
      Graph g;
      const Node x = g.input("x", {6, 12}), y = g.input("labels", {6}, DType::i32);
      std::vector<nn::Parameter*> params = layer.parameters();
      optim::SGD sgd(nn::values_of(params), 0.5);
      optim::TrainingStep step(nn::cross_entropy(layer(x), y), nn::nodes_of(g, params), sgd);
      std::vector<Tensor> inputs, labels;
      for (int i = 0; i < 5; ++i) {
        inputs.push_back(Tensor::normal({6, 12}, gen));
        labels.push_back(Tensor::from<std::int32_t>({i % 4, 1, 2, 3, 0, (i + 1) % 4}));
      }
      step.machine().let(x, inputs[0]);
      step.machine().let(y, labels[0]);
      for (int i = 0; i < 5; ++i) {
        if (i == 2) allocations_after_warmup = device_runtime(d).allocations();
        if (staged) {
          step.launch();
          if (i + 1 < 5) {
            step.machine().stage(x, inputs[static_cast<std::size_t>(i + 1)]);
            step.machine().stage(y, labels[static_cast<std::size_t>(i + 1)]);
          }
          losses[staged].push_back(step.finish());
        } else {
          losses[staged].push_back(step.run());
          if (i + 1 < 5) {
            step.machine().let(x, inputs[static_cast<std::size_t>(i + 1)]);
            step.machine().let(y, labels[static_cast<std::size_t>(i + 1)]);
          }
        }
      }
      if (staged) {
        EXPECT_EQ(device_runtime(d).allocations(), allocations_after_warmup) << "staging allocated on " << d.str();
      }
    }
    EXPECT_EQ(losses[0], losses[1]) << d.str();
  }
}

TEST_F(Backends, AValueGivenAfterAStageReplacesIt) {
  for (Device d : devices_) {
    Graph g;
    const Node x = g.input("x", {4});
    const Node w = g.parameter("w", Tensor::ones({4}, DType::f32, d));
    const Node y = mul(x, w);
    TapeMachine m(g, {y});
    m.let(x, Tensor::zeros({4}));
    const Tensor staged = Tensor::full({4}, 2.0);  // stage() reads it until the next run() returns
    m.stage(x, staged);
    m.let(x, Tensor::full({4}, 3.0));
    m.run();
    EXPECT_EQ(m.value(y).to_vector<float>(), std::vector<float>(4, 3.0f)) << d.str();
  }
}

TEST(Devices, ParseAndPrint) {
  EXPECT_EQ(Device::parse("cpu"), Device::cpu());
  EXPECT_EQ(Device::parse("opencl"), (Device{DeviceKind::opencl, 0}));
  EXPECT_EQ(Device::parse("opencl:2").str(), "opencl:2");
  EXPECT_EQ(Device::parse("cuda:1"), (Device{DeviceKind::cuda, 1}));
  for (const char* bad : {"gpu", "opencl:", "opencl:x", "opencl:-1", "cpu:1", "cuda:1a"}) EXPECT_THROW(Device::parse(bad), ValueError) << bad;
  EXPECT_EQ(Tensor::ones({2}).device(), Device::cpu());
}

// Built with CUDA and run without a GPU, a cuda device says so at once, naming the device and the
// runtime's reason; built without CUDA, it says the build has no CUDA backend.
TEST(Devices, CudaWithoutAGpuSaysWhy) {
  std::string message;
  try {
    Tensor::zeros({2}, DType::f32, Device{DeviceKind::cuda, 0});
  } catch (const DeviceError& e) {
    message = e.what();
  }
  if (message.empty()) GTEST_SKIP() << "this machine has a CUDA device";
  EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
  EXPECT_TRUE(message.find("no CUDA device found") != std::string::npos || message.find("CUDA") != std::string::npos)
      << message;
}

TEST(Devices, AnAbsentDeviceSaysWhy) {
  try {
    Tensor::zeros({2}, DType::f32, Device{DeviceKind::opencl, 99});
    FAIL() << "opencl:99 should not exist";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("opencl:99"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stheno

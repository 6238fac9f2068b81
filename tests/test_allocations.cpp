#include <gtest/gtest.h>

#include "allocation_counter.hpp"
#include "reference.hpp"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

using namespace stheno;
using stheno::testing::AllocationCounter;

// The out forms of the kernels are what a compiled program calls in its inner loop: after one
// warm-up call they must not touch the heap, at one thread and at two.
TEST(Allocations, OutFormsAllocateNothingAfterWarmUp) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  {
    AllocationCounter sanity;
    std::vector<int> v(10);
    ASSERT_GE(sanity.count(), 1) << "the counter must see allocations";
  }
  Generator gen(71);
  const Tensor x = Tensor::normal({64, 784}, gen), w = Tensor::normal({30, 784}, gen);
  const Tensor b = Tensor::normal({30}, gen), h = Tensor::empty({64, 30}), big = Tensor::normal({256, 1024}, gen);
  const Tensor big_out = Tensor::empty({256, 1024}), row_max = Tensor::empty({256, 1}), best = Tensor::empty({256}, DType::i32), col_sums = Tensor::empty({1024}), total = Tensor::empty({});
  const Tensor batch_a = Tensor::normal({8, 5, 6}, gen), batch_b = Tensor::normal({8, 6, 7}, gen), batch_c = Tensor::empty({8, 5, 7});
  const Tensor image = Tensor::normal({2, 3, 12, 12}, gen);
  const Conv2dGeometry g{3, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1};
  const Tensor columns = Tensor::empty({2, 27, 144});
  auto step = [&] {
    matmul(x, w.t(), h);  // a transposed operand goes to BLAS as a flag, not a copy
    add(h, b, h);
    sigmoid_(h);
    sigmoid(big, big_out);
    mul(big, big, big_out);
    reduce(ReduceOp::sum, big, {0}, false, col_sums);
    reduce(ReduceOp::sum, big, {}, false, total);
    reduce(ReduceOp::max, big, {1}, true, row_max);
    argmax(big, 1, false, best);
    softmax(big, -1, big_out);
    log_softmax(h, 1, h);
    matmul(batch_a, batch_b, batch_c);
    im2col(image, g, columns);
    col2im(columns, g, image);
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    step();  // warm-up: thread pools and per-thread scratch come up here
    AllocationCounter counter;
    for (int i = 0; i < 3; ++i) step();
    // oneMKL may grow a worker's packing buffer the first time that worker claims a product.
    EXPECT_EQ(counter.outside_driver_calls(), 0) << "with " << threads << " threads";
  }
}

// The splits behind "stheno's own allocations": what is allocated inside a DriverCall is the
// driver's or library's, on any thread (the host's count); on a device, what another thread
// allocates is not the counting thread's own either.
TEST(Allocations, DriverCallsAndOtherThreadsAreCountedApart) {
  if (!stheno::testing::allocation_counting_available()) GTEST_SKIP() << "sanitizer build: allocator not replaceable";
  auto allocate = [] {  // two allocations, kept from the optimiser's reach
    auto v = std::make_unique<std::vector<int>>(100);
    asm volatile("" : : "g"(v->data()) : "memory");
    return v;
  };
  std::atomic<bool> go{false};
  std::thread other([&] {  // started before counting: making a thread allocates on its creator
    while (!go.load()) std::this_thread::yield();
    auto theirs = allocate();
  });
  AllocationCounter counter;
  auto mine = allocate();
  {
    DriverCall outer;
    DriverCall inner;
    auto drivers = allocate();
  }
  auto mine_again = allocate();
  go.store(true);
  other.join();
  EXPECT_EQ(driver_call_depth(), 0);
  EXPECT_EQ(counter.outside_driver_calls_on_this_thread(), 4);
  EXPECT_EQ(counter.outside_driver_calls(), 6);
  EXPECT_EQ(counter.count(), 8);
}

#include <gtest/gtest.h>

#include "stheno/exec/buffer_plan.hpp"
#include "stheno/tensor/error.hpp"

namespace stheno {
namespace {

bool overlap_in_memory(const BufferPlan& p, int a, int b) {
  return p.offset(a) < p.offset(b) + p.bytes(b) && p.offset(b) < p.offset(a) + p.bytes(a);
}

TEST(BufferPlan, BuffersWhoseLifetimesDoNotOverlapShareMemory) {
  BufferPlan p;
  const int a = p.add(0, 1, 1000), b = p.add(2, 3, 1000);
  p.place();
  EXPECT_EQ(p.offset(a), p.offset(b));
  EXPECT_EQ(p.arena_bytes(), 1024u);
  EXPECT_EQ(p.unshared_bytes(), 2048u);
}

TEST(BufferPlan, BuffersAliveAtTheSameInstructionNeverShareAByte) {
  BufferPlan p;
  // A chain where each value is read by the next instruction, plus one long-lived value.
  std::vector<int> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(p.add(i, i + 1, static_cast<std::size_t>(100 * (i + 1))));
  ids.push_back(p.add(0, 8, 640));
  p.place();
  for (std::size_t i = 0; i < ids.size(); ++i)
    for (std::size_t j = i + 1; j < ids.size(); ++j) {
      const bool alive_together = j == 8 || j == i + 1;  // buffer i lives at instructions i and i + 1
      if (alive_together) {
        EXPECT_FALSE(overlap_in_memory(p, ids[i], ids[j])) << i << " and " << j;
      }
    }
  EXPECT_LT(p.arena_bytes(), p.unshared_bytes());
  for (int id : ids) EXPECT_EQ(p.offset(id) % BufferPlan::kAlignment, 0u);
}

TEST(BufferPlan, ExtendingALifetimeKeepsOthersOut) {
  BufferPlan p;
  const int a = p.add(0, 1, 64), b = p.add(2, 3, 64);
  p.extend(a, 2);  // a result computed in place over a is read at instruction 2
  p.place();
  EXPECT_FALSE(overlap_in_memory(p, a, b));
  EXPECT_EQ(p.arena_bytes(), 128u);
}

TEST(BufferPlan, LargestFirstFillsGapsLeftBySmallerOnes) {
  BufferPlan p;
  const int big = p.add(0, 0, 4096), small1 = p.add(1, 2, 1024), small2 = p.add(1, 2, 1024), late = p.add(3, 3, 2048);
  p.place();
  EXPECT_EQ(p.arena_bytes(), 4096u);  // everything fits where the first buffer was
  EXPECT_FALSE(overlap_in_memory(p, small1, small2));
  (void)big;
  (void)late;
}

TEST(BufferPlan, RejectsBackwardLifetimesAndEarlyQuestions) {
  BufferPlan p;
  EXPECT_THROW(p.add(3, 2, 8), ValueError);
  const int a = p.add(0, 0, 8);
  EXPECT_THROW((void)p.offset(a), ValueError);
  p.place();
  EXPECT_EQ(p.offset(a), 0u);
  EXPECT_EQ(p.bytes(a), 64u);
}

}  // namespace
}  // namespace stheno

#pragma once

namespace stheno {

// One setting for every thread stheno uses: its parallel loops share out work between this many
// threads (the caller and its workers), and BLAS runs single-threaded inside each part, so the
// cores are never oversubscribed. Defaults to the CPUs this process may run on
// (STHENO_NUM_THREADS or OMP_NUM_THREADS override).
void set_num_threads(int n);
int num_threads();

// Within its scope the calling thread's float arithmetic flushes subnormal results to zero and
// reads subnormal operands as zero (x86's FTZ and DAZ modes; elsewhere nothing changes), and the
// thread pool's workers do the same in the parts they run for it. Training programs run in one
// (CompileOptions::flush_subnormals): a saturated sigmoid's tiny values had made the seeds'
// network 3.4× slower by its tenth epoch, the CPU handling each subnormal multiply-add slowly.
// Results differ only below the smallest normal number (about 1.2e-38 in float32). Nested
// scopes restore what they found.
class FlushSubnormals {
 public:
  explicit FlushSubnormals(bool wanted = true);
  ~FlushSubnormals();
  FlushSubnormals(const FlushSubnormals&) = delete;
  FlushSubnormals& operator=(const FlushSubnormals&) = delete;

 private:
  unsigned saved_ = 0;
  bool changed_ = false;
};

}  // namespace stheno

#pragma once

namespace stheno {

// One setting for every thread stheno uses: its parallel loops share out work between this many
// threads (the caller and its workers), and BLAS runs single-threaded inside each part, so the
// cores are never oversubscribed. Defaults to the CPUs this process may run on
// (STHENO_NUM_THREADS or OMP_NUM_THREADS override).
void set_num_threads(int n);
int num_threads();

}  // namespace stheno

#pragma once

namespace stheno {

// One setting for every thread stheno uses: its own parallel loops and its BLAS share a single
// OpenMP pool, so they never oversubscribe the cores. Defaults to the hardware thread count.
void set_num_threads(int n);
int num_threads();

}  // namespace stheno

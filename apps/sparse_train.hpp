#pragma once
// `stheno train --data FILE.svm`: a linear model or an MLP trained on a LIBSVM/SVMlight file,
// its features fed as a sparse (CSR) input, with the test accuracy at every epoch.
#include <string>
#include <vector>

namespace stheno::cli {

// Whether `stheno train` arguments ask for a LIBSVM file: --data names a file (not a directory of
// IDX files) or ends in .svm, .libsvm or .svmlight, or --model is linear.
bool wants_sparse_training(const std::vector<std::string>& args);
int run_sparse_training(const std::vector<std::string>& args);

}  // namespace stheno::cli

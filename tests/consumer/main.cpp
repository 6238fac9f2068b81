#include <iostream>

#include <stheno/stheno.hpp>

int main() {
  const stheno::Tensor a = stheno::Tensor::from<float>({1, 2, 3, 4}, {2, 2});
  const stheno::Tensor b = stheno::matmul(a, a.t());
  std::cout << b << "\n";
  // [[1,2],[3,4]]·[[1,3],[2,4]] = [[5,11],[11,25]]
  return b.at({0, 0}) == 5 && b.at({0, 1}) == 11 && b.at({1, 1}) == 25 ? 0 : 1;
}

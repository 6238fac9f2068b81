#pragma once
// Learning-rate schedules: the rate for a given optimizer step (counted from 0).
#include <cstdint>
#include <memory>
#include <string_view>

namespace stheno::optim {

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double at(std::int64_t step) const = 0;
};

class ConstantLR final : public Schedule {
 public:
  explicit ConstantLR(double lr) : lr_(lr) {}
  double at(std::int64_t) const override { return lr_; }

 private:
  double lr_;
};

// lr · gamma^(step / step_size)
class StepLR final : public Schedule {
 public:
  StepLR(double lr, std::int64_t step_size, double gamma);
  double at(std::int64_t step) const override;

 private:
  double lr_;
  std::int64_t step_size_;
  double gamma_;
};

// Cosine from lr down to min_lr over total_steps, then min_lr.
class CosineLR final : public Schedule {
 public:
  CosineLR(double lr, std::int64_t total_steps, double min_lr = 0);
  double at(std::int64_t step) const override;

 private:
  double lr_;
  std::int64_t total_;
  double min_lr_;
};

// A linear ramp from inner(0)/warmup_steps up to the inner schedule over the first warmup_steps.
class WarmupLR final : public Schedule {
 public:
  WarmupLR(std::shared_ptr<const Schedule> inner, std::int64_t warmup_steps);
  double at(std::int64_t step) const override;

 private:
  std::shared_ptr<const Schedule> inner_;
  std::int64_t warmup_;
};

}  // namespace stheno::optim

#include "stheno/optim/schedule.hpp"

#include <cmath>
#include <numbers>
#include <string>

#include "stheno/tensor/error.hpp"

namespace stheno::optim {

StepLR::StepLR(double lr, std::int64_t step_size, double gamma) : lr_(lr), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) throw ValueError("StepLR: step_size must be at least 1, got " + std::to_string(step_size));
}

double StepLR::at(std::int64_t step) const {
  return lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
}

CosineLR::CosineLR(double lr, std::int64_t total_steps, double min_lr) : lr_(lr), total_(total_steps), min_lr_(min_lr) {
  if (total_steps < 1) throw ValueError("CosineLR: total_steps must be at least 1, got " + std::to_string(total_steps));
}

double CosineLR::at(std::int64_t step) const {
  if (step >= total_) return min_lr_;
  const double progress = static_cast<double>(step) / static_cast<double>(total_);
  return min_lr_ + 0.5 * (lr_ - min_lr_) * (1 + std::cos(std::numbers::pi * progress));
}

WarmupLR::WarmupLR(std::shared_ptr<const Schedule> inner, std::int64_t warmup_steps)
    : inner_(std::move(inner)), warmup_(warmup_steps) {
  if (!inner_) throw ValueError("WarmupLR: no inner schedule");
  if (warmup_steps < 0) throw ValueError("WarmupLR: warmup_steps must not be negative");
}

double WarmupLR::at(std::int64_t step) const {
  const double lr = inner_->at(step);
  if (step >= warmup_) return lr;
  return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_);
}

}  // namespace stheno::optim

#include "server/models/net_checkpoint.h"

#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace gdaqd::server::models {

void WriteNet(torch::serialize::OutputArchive& archive, const std::string& prefix,
              const BatchedPolicies& net) {
  for (size_t l = 0; l < net.weights().size(); ++l) {
    archive.write(absl::StrCat(prefix, ".w", l), net.weights()[l].detach());
    archive.write(absl::StrCat(prefix, ".b", l), net.biases()[l].detach());
  }
}

absl::Status ReadTensor(torch::serialize::InputArchive& archive, const std::string& key,
                        const torch::Tensor& destination, std::vector<PendingCopy>& pending) {
  torch::Tensor source;
  if (!archive.try_read(key, source) || source.sizes() != destination.sizes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint tensor ", key, " is missing or has the wrong shape"));
  }
  pending.push_back({source, destination});
  return absl::OkStatus();
}

bool SameShapeAndType(const torch::Tensor& a, const torch::Tensor& b) {
  return a.defined() && a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type();
}

absl::Status ReadNet(torch::serialize::InputArchive& archive, const std::string& prefix,
                     const BatchedPolicies& net, std::vector<PendingCopy>& pending) {
  for (size_t l = 0; l < net.weights().size(); ++l) {
    if (absl::Status s =
            ReadTensor(archive, absl::StrCat(prefix, ".w", l), net.weights()[l], pending);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            ReadTensor(archive, absl::StrCat(prefix, ".b", l), net.biases()[l], pending);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void ApplyPendingCopies(const std::vector<PendingCopy>& pending) {
  torch::NoGradGuard no_grad;
  for (const PendingCopy& copy : pending) copy.destination.copy_(copy.source);
}

namespace {

// Adam's parameters in parameter-group order, the order WriteOptimizer indexes them by.
std::vector<torch::Tensor> OptimizerParams(const torch::optim::Adam& optimizer) {
  std::vector<torch::Tensor> params;
  for (const torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    params.insert(params.end(), group.params().begin(), group.params().end());
  }
  return params;
}

std::string StateKey(const torch::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}

// The moments of parameter `index` must have its shape and type (max_exp_avg_sq only with
// amsgrad, so it may be absent).
absl::Status CheckMoments(const std::string& key, size_t index,
                          const torch::optim::AdamParamState& state, const torch::Tensor& param) {
  for (const auto& [name, moment, required] :
       {std::tuple<const char*, const torch::Tensor*, bool>{"exp_avg", &state.exp_avg(), true},
        {"exp_avg_sq", &state.exp_avg_sq(), true},
        {"max_exp_avg_sq", &state.max_exp_avg_sq(), false}}) {
    if (!required && !moment->defined()) continue;
    if (!SameShapeAndType(*moment, param)) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint optimizer ", key, " has a p",
                                                     index, ".", name,
                                                     " that does not match its parameter"));
    }
  }
  return absl::OkStatus();
}

// The form torch::optim::Adam::save writes, keyed by parameter addresses: loaded into a scratch
// Adam over same-shaped parameters, then taken in parameter order.
void ReadAddressKeyed(torch::serialize::InputArchive& inner,
                      const std::vector<torch::Tensor>& params,
                      std::vector<std::unique_ptr<torch::optim::AdamParamState>>& states) {
  std::vector<torch::Tensor> scratch_params;
  scratch_params.reserve(params.size());
  for (const torch::Tensor& p : params) scratch_params.push_back(torch::empty_like(p));
  torch::optim::Adam scratch(scratch_params);
  scratch.load(inner);
  for (const torch::Tensor& p : scratch_params) {
    auto it = scratch.state().find(StateKey(p));
    states.push_back(it == scratch.state().end()
                         ? nullptr
                         : std::make_unique<torch::optim::AdamParamState>(
                               static_cast<const torch::optim::AdamParamState&>(*it->second)));
  }
}

}  // namespace

void WriteOptimizer(torch::serialize::OutputArchive& archive, const std::string& key,
                    const torch::optim::Adam& optimizer) {
  torch::serialize::OutputArchive inner(archive.compilation_unit());
  const std::vector<torch::Tensor> params = OptimizerParams(optimizer);
  inner.write("num_params", torch::tensor({static_cast<int64_t>(params.size())}));
  for (size_t i = 0; i < params.size(); ++i) {
    auto it = optimizer.state().find(StateKey(params[i]));
    if (it == optimizer.state().end()) continue;
    const auto& state = static_cast<const torch::optim::AdamParamState&>(*it->second);
    const std::string prefix = absl::StrCat("p", i, ".");
    inner.write(prefix + "step", torch::tensor({state.step()}));
    inner.write(prefix + "exp_avg", state.exp_avg());
    inner.write(prefix + "exp_avg_sq", state.exp_avg_sq());
    if (state.max_exp_avg_sq().defined()) {
      inner.write(prefix + "max_exp_avg_sq", state.max_exp_avg_sq());
    }
  }
  archive.write(key, inner);
}

absl::Status ReadOptimizer(torch::serialize::InputArchive& archive, const std::string& key,
                           torch::optim::Adam& optimizer, std::vector<PendingOptimizer>& pending) {
  torch::serialize::InputArchive inner;
  if (!archive.try_read(key, inner)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint optimizer ", key, " is missing"));
  }
  const std::vector<torch::Tensor> params = OptimizerParams(optimizer);
  PendingOptimizer read{&optimizer, {}};
  torch::Tensor num_params;
  if (!inner.try_read("num_params", num_params)) {
    ReadAddressKeyed(inner, params, read.states);
  } else {
    if (num_params.numel() != 1 ||
        num_params.to(torch::kCPU).item<int64_t>() != static_cast<int64_t>(params.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint optimizer ", key, " has another parameter count than ", params.size()));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string prefix = absl::StrCat("p", i, ".");
      torch::Tensor step;
      if (!inner.try_read(prefix + "step", step)) {
        read.states.push_back(nullptr);
        continue;
      }
      if (step.numel() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("checkpoint optimizer ", key, " has a malformed ", prefix, "step"));
      }
      auto state = std::make_unique<torch::optim::AdamParamState>();
      state->step(step.to(torch::kCPU).item<int64_t>());
      // A missing moment stays undefined, which CheckMoments refuses below.
      auto moment = [&](const char* name) {
        torch::Tensor t;
        inner.try_read(prefix + name, t);
        return t;
      };
      state->exp_avg(moment("exp_avg"));
      state->exp_avg_sq(moment("exp_avg_sq"));
      state->max_exp_avg_sq(moment("max_exp_avg_sq"));
      read.states.push_back(std::move(state));
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (read.states[i] == nullptr) continue;
    if (absl::Status s = CheckMoments(key, i, *read.states[i], params[i]); !s.ok()) return s;
  }
  pending.push_back(std::move(read));
  return absl::OkStatus();
}

void ApplyPendingOptimizers(std::vector<PendingOptimizer>& pending) {
  for (PendingOptimizer& read : pending) {
    const std::vector<torch::Tensor> params = OptimizerParams(*read.optimizer);
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string key = StateKey(params[i]);
      if (read.states[i] == nullptr) {
        read.optimizer->state().erase(key);
      } else {
        read.optimizer->state()[key] = std::move(read.states[i]);
      }
    }
  }
  pending.clear();
}

}  // namespace gdaqd::server::models

#include "server/models/td3_critic.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/errors.h"
#include "server/models/net_checkpoint.h"
#include "server/models/torch_util.h"
#include "server/models/transition_rows.h"

namespace gdaqd::server::models {
namespace {

constexpr int64_t kSaveFormatVersion = 1;

// Twin-critic input shape: obs ++ action -> critic_hidden -> 1, ReLU, linear output.
PolicyShape CriticShape(const PolicyShape& policy, const Td3Config& config) {
  PolicyShape shape;
  shape.obs_dim = policy.obs_dim + policy.action_dim;
  shape.hidden = config.critic_hidden;
  shape.action_dim = 1;
  shape.hidden_activation = "relu";
  shape.output_activation = "identity";
  return shape;
}

// Two independently initialised critics as a flat [2, num_params] tensor (CPU): kernels
// lecun_uniform U(-sqrt(3 / fan_in), +sqrt(3 / fan_in)) as QDax's critic MLP, biases zero.
torch::Tensor InitCriticFlat(const PolicyShape& shape, at::Generator& generator) {
  // No lock here: LibTorch's random kernels take the generator's mutex themselves.
  const std::vector<int> sizes = shape.sizes();
  std::vector<torch::Tensor> pieces;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double limit = std::sqrt(3.0 / sizes[l]);
    pieces.push_back((torch::rand({2, int64_t{sizes[l]} * sizes[l + 1]}, generator) * 2 - 1) *
                     limit);
    pieces.push_back(torch::zeros({2, int64_t{sizes[l + 1]}}));
  }
  return torch::cat(pieces, 1);
}

// Internal if a Train() call's summed critic or actor loss is NaN or infinite (losses are
// summed on the device, so the step where it started is not known; the call's range is).
absl::Status CheckLossesFinite(const TrainReport& report, int64_t first_step) {
  const std::string where =
      absl::StrCat("in critic steps ", first_step, "-", first_step + report.critic_steps - 1);
  if (!std::isfinite(report.mean_critic_loss)) {
    return NonFiniteLossError("critic", report.mean_critic_loss, where);
  }
  if (!std::isfinite(report.mean_actor_loss)) {
    return NonFiniteLossError("actor", report.mean_actor_loss, where);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Td3Config::Validate() const {
  if (critic_hidden.empty()) return absl::InvalidArgumentError("critic_hidden is empty");
  for (size_t i = 0; i < critic_hidden.size(); ++i) {
    if (critic_hidden[i] < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("critic_hidden[", i, "] is ", critic_hidden[i]));
    }
  }
  if (!(critic_lr > 0) || !(actor_lr > 0) || !(policy_lr > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("learning rates must be > 0, got critic_lr ",
                                                   critic_lr, " actor_lr ", actor_lr, " policy_lr ",
                                                   policy_lr));
  }
  if (critic_steps < 0 || pg_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("critic_steps ", critic_steps, " and pg_steps ", pg_steps, " must be >= 0"));
  }
  if (batch_size < 1) return absl::InvalidArgumentError(absl::StrCat("batch_size is ", batch_size));
  if (!(discount >= 0 && discount <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("discount ", discount, " not in [0, 1]"));
  }
  if (!(tau >= 0 && tau <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("tau ", tau, " not in [0, 1]"));
  }
  if (!(policy_noise >= 0) || !(noise_clip >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy_noise ", policy_noise, " and noise_clip ", noise_clip, " must be >= 0"));
  }
  if (policy_delay < 1) {
    return absl::InvalidArgumentError(absl::StrCat("policy_delay is ", policy_delay));
  }
  if (!std::isfinite(reward_scaling)) {
    return absl::InvalidArgumentError(absl::StrCat("reward_scaling is ", reward_scaling));
  }
  return absl::OkStatus();
}

Td3::Td3(const Td3Config& config, const PolicyShape& policy_shape, PolicyShape critic_shape,
         torch::Device device, at::Generator generator, BatchedPolicies critic,
         BatchedPolicies target_critic, BatchedPolicies actor, BatchedPolicies target_actor)
    : config_(config),
      policy_shape_(policy_shape),
      critic_shape_(std::move(critic_shape)),
      device_(device),
      generator_(std::move(generator)),
      critic_(std::move(critic)),
      target_critic_(std::move(target_critic)),
      actor_(std::move(actor)),
      target_actor_(std::move(target_actor)) {
  critic_.set_requires_grad(true);
  actor_.set_requires_grad(true);
  critic_optimizer_ = std::make_unique<torch::optim::Adam>(
      critic_.parameters(), torch::optim::AdamOptions(config_.critic_lr));
  actor_optimizer_ = std::make_unique<torch::optim::Adam>(
      actor_.parameters(), torch::optim::AdamOptions(config_.actor_lr));
}

absl::StatusOr<std::unique_ptr<Td3>> Td3::Create(const Td3Config& config,
                                                 const PolicyShape& policy_shape,
                                                 absl::Span<const float> initial_actor_params) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (absl::Status s = policy_shape.Validate(); !s.ok()) return s;
  if (static_cast<int64_t>(initial_actor_params.size()) != policy_shape.num_params()) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial actor has ", initial_actor_params.size(),
                     " parameters, policy shape expects ", policy_shape.num_params()));
  }
  absl::StatusOr<torch::Device> device = SelectDevice(config.device);
  if (!device.ok()) return device.status();
  return CallTorch("Td3::Create", [&]() -> absl::StatusOr<std::unique_ptr<Td3>> {
    PolicyShape critic_shape = CriticShape(policy_shape, config);
    at::Generator generator = at::detail::createCPUGenerator(config.seed);
    absl::StatusOr<BatchedPolicies> critic = BatchedPolicies::FromFlatTensor(
        critic_shape, InitCriticFlat(critic_shape, generator).to(*device));
    if (!critic.ok()) return critic.status();
    absl::StatusOr<BatchedPolicies> target_critic = critic->Clone();
    if (!target_critic.ok()) return target_critic.status();
    absl::StatusOr<BatchedPolicies> actor =
        BatchedPolicies::FromFlat(policy_shape, initial_actor_params, *device);
    if (!actor.ok()) return actor.status();
    absl::StatusOr<BatchedPolicies> target_actor = actor->Clone();
    if (!target_actor.ok()) return target_actor.status();
    return std::unique_ptr<Td3>(new Td3(config, policy_shape, std::move(critic_shape), *device,
                                        std::move(generator), *std::move(critic),
                                        *std::move(target_critic), *std::move(actor),
                                        *std::move(target_actor)));
  });
}

int64_t Td3::row_size() const { return 2 * policy_shape_.obs_dim + policy_shape_.action_dim + 3; }

absl::StatusOr<torch::Tensor> Td3::SampleRows(const SampleFn& sample_fn, int64_t n) const {
  std::vector<float> rows;
  sample_fn(n, &rows);
  return TransitionRowsToDevice(rows, n, row_size(), device_, "sample_fn");
}

Td3::Batch Td3::SplitRows(const torch::Tensor& rows) const {
  return SplitTransitionColumns(rows, policy_shape_.obs_dim, policy_shape_.action_dim);
}

torch::Tensor Td3::CriticLossOrThrow(const Batch& batch, const torch::Tensor& unit_noise) const {
  torch::Tensor target;  // [B, 1]
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor noise =
        (unit_noise * config_.policy_noise).clamp(-config_.noise_clip, config_.noise_clip);
    const torch::Tensor next_actions =
        (target_actor_.ForwardOrThrow(batch.next_obs)[0] + noise).clamp(-1.0, 1.0);
    const torch::Tensor next_q =  // [2, B, 1]
        target_critic_.ForwardOrThrow(torch::cat({batch.next_obs, next_actions}, 1));
    const torch::Tensor next_v = std::get<0>(next_q.min(0));
    target =
        batch.rewards * config_.reward_scaling + (1.0 - batch.dones) * config_.discount * next_v;
  }
  const torch::Tensor q = critic_.ForwardOrThrow(torch::cat({batch.obs, batch.actions}, 1));
  // Time-limit truncations are not bootstrapped: their TD error is masked out (QDax).
  const torch::Tensor error = (q - target) * (1.0 - batch.truncations);
  // QDax HEAD: per-critic batch mean, summed over the two critics.
  return error.square().mean({1, 2}).sum();
}

torch::Tensor Td3::PolicyLossOrThrow(const BatchedPolicies& policies,
                                     const torch::Tensor& obs) const {
  const torch::Tensor actions = policies.ForwardOrThrow(obs);  // [P, B, act]
  const int64_t p = actions.size(0);
  const int64_t b = actions.size(1);
  const torch::Tensor input = torch::cat({obs.unsqueeze(0).expand({p, b, obs.size(1)}), actions}, 2)
                                  .reshape({1, p * b, critic_shape_.obs_dim});
  // Q1 only, detached: gradients reach the policies, never the critic.
  std::vector<torch::Tensor> weights;
  std::vector<torch::Tensor> biases;
  for (size_t l = 0; l < critic_.weights().size(); ++l) {
    weights.push_back(critic_.weights()[l].narrow(0, 0, 1).detach());
    biases.push_back(critic_.biases()[l].narrow(0, 0, 1).detach());
  }
  const torch::Tensor q1 =
      BatchedMlpForward(weights, biases, input, Activation::kRelu, Activation::kIdentity)
          .reshape({p, b});
  // Sum over policies of each policy's own loss (see BatchedPolicies on why not the mean).
  return -q1.mean(1).sum();
}

absl::StatusOr<TrainReport> Td3::Train(const SampleFn& sample_fn, const InterruptFlag* interrupt) {
  TrainReport report;
  const int64_t steps = config_.critic_steps;
  const int64_t b = config_.batch_size;
  if (steps == 0) return report;
  if (Interrupted(interrupt)) return InterruptedError("TD3 training");
  absl::StatusOr<torch::Tensor> rows = SampleRows(sample_fn, steps * b);
  if (!rows.ok()) return rows.status();
  const int64_t first_step = critic_step_count_ + 1;
  return CallTorch("Td3::Train", [&]() -> absl::StatusOr<TrainReport> {
    // [steps, B, act], drawn on the CPU (device-independent stream); randn locks the generator.
    const torch::Tensor unit_noise =
        torch::randn({steps, b, int64_t{policy_shape_.action_dim}}, generator_).to(device_);
    // Loss sums stay on the device: one synchronisation per call, not per step.
    torch::Tensor critic_loss_sum = torch::zeros({}, torch::TensorOptions().device(device_));
    torch::Tensor actor_loss_sum = torch::zeros({}, torch::TensorOptions().device(device_));
    torch::Tensor last_critic_loss;
    for (int64_t step = 0; step < steps; ++step) {
      if (Interrupted(interrupt)) return InterruptedError("TD3 training");
      const Batch batch = SplitRows(rows->narrow(0, step * b, b));
      const torch::Tensor critic_loss = CriticLossOrThrow(batch, unit_noise[step]);
      critic_optimizer_->zero_grad();
      critic_loss.backward();
      critic_optimizer_->step();
      if (absl::Status s = target_critic_.SoftUpdateFrom(critic_, config_.tau); !s.ok()) return s;
      last_critic_loss = critic_loss.detach();
      critic_loss_sum += last_critic_loss;
      // QDax HEAD: the actor moves when the counter (before increment) is a multiple of delay.
      if (critic_step_count_ % config_.policy_delay == 0) {
        const torch::Tensor actor_loss = PolicyLossOrThrow(actor_, batch.obs);
        actor_optimizer_->zero_grad();
        actor_loss.backward();
        actor_optimizer_->step();
        if (absl::Status s = target_actor_.SoftUpdateFrom(actor_, config_.tau); !s.ok()) return s;
        actor_loss_sum += actor_loss.detach();
        ++report.actor_steps;
        ++actor_step_count_;
      }
      ++critic_step_count_;
      ++report.critic_steps;
    }
    report.mean_critic_loss = critic_loss_sum.item<double>() / static_cast<double>(steps);
    report.last_critic_loss = last_critic_loss.item<double>();
    if (report.actor_steps > 0) {
      report.mean_actor_loss =
          actor_loss_sum.item<double>() / static_cast<double>(report.actor_steps);
    }
    if (absl::Status s = CheckLossesFinite(report, first_step); !s.ok()) return s;
    return report;
  });
}

absl::StatusOr<std::vector<float>> Td3::PolicyGradientChildren(const std::vector<float>& parents,
                                                               const SampleFn& sample_fn,
                                                               const InterruptFlag* interrupt) {
  const int64_t num_params = policy_shape_.num_params();
  if (parents.empty() || static_cast<int64_t>(parents.size()) % num_params != 0) {
    return absl::InvalidArgumentError(absl::StrCat("parents have ", parents.size(),
                                                   " floats, not a positive multiple of ",
                                                   num_params, " parameters per policy"));
  }
  if (config_.pg_steps == 0) return parents;
  if (Interrupted(interrupt)) return InterruptedError("policy-gradient variation");
  absl::StatusOr<BatchedPolicies> children =
      BatchedPolicies::FromFlat(policy_shape_, parents, device_);
  if (!children.ok()) return children.status();
  const int64_t b = config_.batch_size;
  absl::StatusOr<torch::Tensor> rows = SampleRows(sample_fn, config_.pg_steps * b);
  if (!rows.ok()) return rows.status();
  return CallTorch("Td3::PolicyGradientChildren", [&]() -> absl::StatusOr<std::vector<float>> {
    children->set_requires_grad(true);
    // One Adam over the stacked children = a fresh Adam per child (BatchedPolicies comment).
    torch::optim::Adam optimizer(children->parameters(),
                                 torch::optim::AdamOptions(config_.policy_lr));
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device_));
    for (int64_t step = 0; step < config_.pg_steps; ++step) {
      if (Interrupted(interrupt)) return InterruptedError("policy-gradient variation");
      const torch::Tensor obs =
          rows->narrow(0, step * b, b).narrow(1, 0, policy_shape_.obs_dim).contiguous();
      const torch::Tensor loss = PolicyLossOrThrow(*children, obs);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      loss_sum += loss.detach();
    }
    const double total = loss_sum.item<double>();
    if (!std::isfinite(total)) {
      return NonFiniteLossError(
          "policy-gradient", total,
          absl::StrCat("over ", config_.pg_steps, " steps of ",
                       static_cast<int64_t>(parents.size()) / num_params, " children"));
    }
    return children->ToFlat();
  });
}

absl::StatusOr<std::vector<float>> Td3::greedy_actor_params() const { return actor_.ToFlat(); }

absl::StatusOr<std::vector<float>> Td3::QValues(absl::Span<const float> obs,
                                                absl::Span<const float> actions) const {
  const int64_t obs_dim = policy_shape_.obs_dim;
  const int64_t act_dim = policy_shape_.action_dim;
  const int64_t n = static_cast<int64_t>(obs.size()) / obs_dim;
  if (n < 1 || static_cast<int64_t>(obs.size()) != n * obs_dim ||
      static_cast<int64_t>(actions.size()) != n * act_dim) {
    return absl::InvalidArgumentError(absl::StrCat("QValues got ", obs.size(), " obs floats and ",
                                                   actions.size(), " action floats for obs_dim ",
                                                   obs_dim, ", action_dim ", act_dim));
  }
  return CallTorch("Td3::QValues", [&]() -> absl::StatusOr<std::vector<float>> {
    torch::NoGradGuard no_grad;
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    const torch::Tensor o = torch::from_blob(const_cast<float*>(obs.data()), {n, obs_dim}, options);
    const torch::Tensor a =
        torch::from_blob(const_cast<float*>(actions.data()), {n, act_dim}, options);
    const torch::Tensor q =
        critic_.ForwardOrThrow(torch::cat({o, a}, 1).to(device_)).to(torch::kCPU).contiguous();
    std::vector<float> out(static_cast<size_t>(q.numel()));
    std::memcpy(out.data(), q.data_ptr<float>(), out.size() * sizeof(float));
    return out;
  });
}

absl::StatusOr<double> Td3::CriticLoss(absl::Span<const float> rows,
                                       absl::Span<const float> noise) const {
  const int64_t n = static_cast<int64_t>(rows.size()) / row_size();
  if (n < 1 || static_cast<int64_t>(rows.size()) != n * row_size() ||
      static_cast<int64_t>(noise.size()) != n * policy_shape_.action_dim) {
    return absl::InvalidArgumentError(absl::StrCat("CriticLoss got ", rows.size(),
                                                   " row floats (rows of ", row_size(), ") and ",
                                                   noise.size(), " noise floats"));
  }
  return CallTorch("Td3::CriticLoss", [&]() -> absl::StatusOr<double> {
    torch::NoGradGuard no_grad;
    const auto options = torch::TensorOptions().dtype(torch::kFloat32);
    const torch::Tensor r =
        torch::from_blob(const_cast<float*>(rows.data()), {n, row_size()}, options).to(device_);
    const torch::Tensor z = torch::from_blob(const_cast<float*>(noise.data()),
                                             {n, int64_t{policy_shape_.action_dim}}, options)
                                .to(device_);
    return CriticLossOrThrow(SplitRows(r), z).item<double>();
  });
}

absl::StatusOr<std::string> Td3::Save() const {
  return CallTorch("Td3::Save", [&]() -> absl::StatusOr<std::string> {
    torch::serialize::OutputArchive archive;
    archive.write("format_version", torch::tensor({kSaveFormatVersion}));
    WriteNet(archive, "critic", critic_);
    WriteNet(archive, "target_critic", target_critic_);
    WriteNet(archive, "actor", actor_);
    WriteNet(archive, "target_actor", target_actor_);
    WriteOptimizer(archive, "critic_optimizer", *critic_optimizer_);
    WriteOptimizer(archive, "actor_optimizer", *actor_optimizer_);
    archive.write("counters", torch::tensor({critic_step_count_, actor_step_count_}));
    archive.write("generator_state", generator_.get_state());
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  });
}

absl::Status Td3::Load(const std::string& bytes) {
  torch::serialize::InputArchive archive;
  try {
    std::istringstream in(bytes);
    archive.load_from(in, device_);
  } catch (const std::bad_alloc& e) {
    return OutOfMemoryError("reading the TD3 checkpoint", e.what());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read TD3 checkpoint: ", e.what()));
  }
  return CallTorch("Td3::Load", [&]() -> absl::Status {
    torch::Tensor version;
    if (!archive.try_read("format_version", version) || version.numel() != 1 ||
        version.to(torch::kCPU).item<int64_t>() != kSaveFormatVersion) {
      return absl::InvalidArgumentError("TD3 checkpoint has no or an unknown format_version");
    }
    // Check every tensor before writing any, so a mismatched checkpoint changes nothing.
    std::vector<PendingCopy> pending;
    for (const auto& [name, net] :
         {std::pair<const char*, const BatchedPolicies*>{"critic", &critic_},
          {"target_critic", &target_critic_},
          {"actor", &actor_},
          {"target_actor", &target_actor_}}) {
      if (absl::Status s = ReadNet(archive, name, *net, pending); !s.ok()) return s;
    }
    std::vector<PendingOptimizer> optimizers;
    for (const auto& [name, optimizer] :
         {std::pair<const char*, torch::optim::Adam*>{"critic_optimizer", critic_optimizer_.get()},
          {"actor_optimizer", actor_optimizer_.get()}}) {
      if (absl::Status s = ReadOptimizer(archive, name, *optimizer, optimizers); !s.ok()) return s;
    }
    torch::Tensor counters, generator_state;
    if (!archive.try_read("counters", counters) || counters.numel() != 2 ||
        !archive.try_read("generator_state", generator_state) ||
        !SameShapeAndType(generator_state, generator_.get_state())) {
      return absl::InvalidArgumentError(
          "TD3 checkpoint has no or malformed counters or generator_state");
    }
    counters = counters.to(torch::kCPU);
    ApplyPendingCopies(pending);
    ApplyPendingOptimizers(optimizers);
    critic_step_count_ = counters[0].item<int64_t>();
    actor_step_count_ = counters[1].item<int64_t>();
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(generator_state.to(torch::kCPU));
    return absl::OkStatus();
  });
}

}  // namespace gdaqd::server::models

#include "server/models/sac.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <new>
#include <numbers>
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
constexpr int64_t kSkillColumns = 1 + 2 * kSkillDescriptorDim + 1;  // skill, d(s), d(s'), R

// InvalidArgument "<field>[i] is <v>" for a hidden size < 1.
absl::Status CheckHidden(const char* field, const std::vector<int>& hidden) {
  for (size_t i = 0; i < hidden.size(); ++i) {
    if (hidden[i] < 1) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "] is ", hidden[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* field, double value) {
  if (value > 0 && std::isfinite(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be finite and > 0, got ", value));
}

absl::Status CheckFinite(const char* field, double value) {
  if (std::isfinite(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be finite, got ", value));
}

absl::Status CheckUnit(const char* field, double value) {
  if (value >= 0 && value <= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be in [0, 1], got ", value));
}

// InvalidArgument unless `skill` is an integer in [0, num_skills).
absl::Status CheckSkill(double skill, int num_skills, absl::string_view where) {
  if (skill >= 0 && skill < num_skills && skill == std::floor(skill)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, " is ", skill, ", expected an integer in [0, ", num_skills, ")"));
}

// The actor's input [n, obs_dim + K] on `device` for host obs [n, obs_dim] and skills [n].
// InvalidArgument on sizes or a skill out of range.
absl::StatusOr<torch::Tensor> ActorInput(absl::Span<const float> obs, absl::Span<const int> skills,
                                         int obs_dim, int num_skills, torch::Device device) {
  const int64_t n = static_cast<int64_t>(obs.size()) / obs_dim;
  if (n < 1 || static_cast<int64_t>(obs.size()) != n * obs_dim ||
      static_cast<int64_t>(skills.size()) != (num_skills > 0 ? n : 0)) {
    return absl::InvalidArgumentError(absl::StrCat("got ", obs.size(), " obs floats and ",
                                                   skills.size(), " skills for obs_dim ", obs_dim,
                                                   " and ", num_skills, " skills"));
  }
  for (size_t i = 0; i < skills.size(); ++i) {
    if (absl::Status s = CheckSkill(skills[i], num_skills, absl::StrCat("skills[", i, "]"));
        !s.ok()) {
      return s;
    }
  }
  return CallTorch("Sac::ActorInput", [&]() -> absl::StatusOr<torch::Tensor> {
    torch::Tensor input = torch::from_blob(const_cast<float*>(obs.data()), {n, obs_dim},
                                           torch::TensorOptions().dtype(torch::kFloat32))
                              .clone();
    if (num_skills > 0) {
      std::vector<int64_t> z(skills.begin(), skills.end());
      input =
          torch::cat({input, torch::one_hot(torch::tensor(z), num_skills).to(torch::kFloat32)}, 1);
    }
    return input.to(device);
  });
}

std::vector<float> ToHost(const torch::Tensor& t) {
  const torch::Tensor host = t.detach().to(torch::kCPU).contiguous();
  std::vector<float> out(static_cast<size_t>(host.numel()));
  std::memcpy(out.data(), host.data_ptr<float>(), out.size() * sizeof(float));
  return out;
}

// Sums of one Train() call's per-step values, kept on the device (one synchronisation per call).
struct LossSums {
  explicit LossSums(torch::Device device) {
    for (torch::Tensor* t : All()) *t = torch::zeros({}, torch::TensorOptions().device(device));
  }
  std::vector<torch::Tensor*> All() {
    return {&critic, &actor, &alpha, &log_prob, &discriminator, &intrinsic, &gate};
  }
  torch::Tensor critic, actor, alpha, log_prob, discriminator, intrinsic, gate;
};

}  // namespace

absl::Status SacConfig::Validate() const {
  if (absl::Status s = CheckHidden("policy_hidden", policy_hidden); !s.ok()) return s;
  if (absl::Status s = CheckHidden("critic_hidden", critic_hidden); !s.ok()) return s;
  for (const auto& [field, value] : {std::pair<const char*, double>{"policy_lr", policy_lr},
                                     {"critic_lr", critic_lr},
                                     {"alpha_lr", alpha_lr},
                                     {"initial_alpha", initial_alpha},
                                     {"min_std", min_std}}) {
    if (absl::Status s = CheckPositive(field, value); !s.ok()) return s;
  }
  if (batch_size < 1) return absl::InvalidArgumentError(absl::StrCat("batch_size is ", batch_size));
  if (absl::Status s = CheckUnit("discount", discount); !s.ok()) return s;
  if (absl::Status s = CheckUnit("tau", tau); !s.ok()) return s;
  if (absl::Status s = CheckFinite("reward_scaling", reward_scaling); !s.ok()) return s;
  if (target_entropy.has_value()) {
    if (absl::Status s = CheckFinite("target_entropy", *target_entropy); !s.ok()) return s;
  }
  if (num_skills < 0) return absl::InvalidArgumentError(absl::StrCat("num_skills is ", num_skills));
  if (steps_per_train < 0) {
    return absl::InvalidArgumentError(absl::StrCat("steps_per_train is ", steps_per_train));
  }
  if (diversity.mode == DiversityMode::kNone) return absl::OkStatus();
  if (num_skills < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num_skills must be > 0 for diversity mode ",
                                                   DiversityModeName(diversity.mode)));
  }
  if (absl::Status s = CheckHidden("discriminator_hidden", diversity.discriminator_hidden);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPositive("discriminator_lr", diversity.discriminator_lr); !s.ok()) {
    return s;
  }
  for (const auto& [field, value] :
       {std::pair<const char*, double>{"diversity_reward_scale", diversity.diversity_reward_scale},
        {"smerl_target", diversity.smerl_target},
        {"smerl_margin", diversity.smerl_margin}}) {
    if (absl::Status s = CheckFinite(field, value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

torch::Tensor TanhGaussianLogProbOrThrow(const torch::Tensor& mu, const torch::Tensor& std,
                                         const torch::Tensor& u) {
  const double log_sqrt_2pi = 0.5 * std::log(2.0 * std::numbers::pi);
  const torch::Tensor z = (u - mu) / std;
  const torch::Tensor log_normal = -0.5 * z.square() - std.log() - log_sqrt_2pi;
  // log(1 - tanh(u)^2) without cancellation for large |u| (brax TanhBijector).
  const torch::Tensor log_det = 2.0 * (std::log(2.0) - u - torch::softplus(-2.0 * u));
  return (log_normal - log_det).sum(1, /*keepdim=*/true);
}

int64_t Sac::RowWidth(int obs_dim, int action_dim, int num_skills) {
  return 2 * int64_t{obs_dim} + action_dim + 3 + (num_skills > 0 ? kSkillColumns : 0);
}

PolicyShape Sac::ActorShape(const SacConfig& config, int obs_dim, int action_dim) {
  return PolicyShape{.obs_dim = obs_dim + config.num_skills,
                     .hidden = config.policy_hidden,
                     .action_dim = 2 * action_dim,
                     .hidden_activation = "relu",
                     .output_activation = "identity"};
}

Sac::Sac(const SacConfig& config, int obs_dim, int action_dim, torch::Device device,
         at::Generator generator, BatchedPolicies actor, BatchedPolicies critic,
         BatchedPolicies target_critic, std::unique_ptr<SkillDiscriminator> discriminator)
    : config_(config),
      obs_dim_(obs_dim),
      action_dim_(action_dim),
      target_entropy_(config.target_entropy.value_or(-0.5 * action_dim)),
      device_(device),
      generator_(std::move(generator)),
      actor_(std::move(actor)),
      critic_(std::move(critic)),
      target_critic_(std::move(target_critic)),
      discriminator_(std::move(discriminator)) {
  actor_.set_requires_grad(true);
  critic_.set_requires_grad(true);
  log_alpha_ = torch::full({1}, std::log(config_.initial_alpha),
                           torch::TensorOptions().dtype(torch::kFloat32).device(device_))
                   .requires_grad_(!config_.fix_alpha);
  actor_optimizer_ = std::make_unique<torch::optim::Adam>(
      actor_.parameters(), torch::optim::AdamOptions(config_.policy_lr));
  critic_optimizer_ = std::make_unique<torch::optim::Adam>(
      critic_.parameters(), torch::optim::AdamOptions(config_.critic_lr));
  alpha_optimizer_ = std::make_unique<torch::optim::Adam>(
      std::vector<torch::Tensor>{log_alpha_}, torch::optim::AdamOptions(config_.alpha_lr));
}

absl::StatusOr<std::unique_ptr<Sac>> Sac::Create(const SacConfig& config, int obs_dim,
                                                 int action_dim,
                                                 absl::Span<const float> initial_actor_params) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (obs_dim < 1) return absl::InvalidArgumentError(absl::StrCat("obs_dim is ", obs_dim));
  if (action_dim < 1) return absl::InvalidArgumentError(absl::StrCat("action_dim is ", action_dim));
  const PolicyShape actor_shape = ActorShape(config, obs_dim, action_dim);
  if (!initial_actor_params.empty() &&
      static_cast<int64_t>(initial_actor_params.size()) != actor_shape.num_params()) {
    return absl::InvalidArgumentError(
        absl::StrCat("initial actor has ", initial_actor_params.size(),
                     " parameters, the actor's layout expects ", actor_shape.num_params()));
  }
  absl::StatusOr<torch::Device> device = SelectDevice(config.device);
  if (!device.ok()) return device.status();
  return CallTorch("Sac::Create", [&]() -> absl::StatusOr<std::unique_ptr<Sac>> {
    at::Generator generator = at::detail::createCPUGenerator(config.seed);
    absl::StatusOr<BatchedPolicies> actor =
        initial_actor_params.empty()
            ? BatchedPolicies::FromFlatTensor(
                  actor_shape, LecunUniformFlatOrThrow(actor_shape, 1, generator).to(*device))
            : BatchedPolicies::FromFlat(actor_shape, initial_actor_params, *device);
    if (!actor.ok()) return actor.status();
    const PolicyShape critic_shape{.obs_dim = obs_dim + config.num_skills + action_dim,
                                   .hidden = config.critic_hidden,
                                   .action_dim = 1,
                                   .hidden_activation = "relu",
                                   .output_activation = "identity"};
    absl::StatusOr<BatchedPolicies> critic = BatchedPolicies::FromFlatTensor(
        critic_shape, LecunUniformFlatOrThrow(critic_shape, 2, generator).to(*device));
    if (!critic.ok()) return critic.status();
    absl::StatusOr<BatchedPolicies> target_critic = critic->Clone();
    if (!target_critic.ok()) return target_critic.status();
    std::unique_ptr<SkillDiscriminator> discriminator;
    if (config.diversity.mode != DiversityMode::kNone) {
      absl::StatusOr<std::unique_ptr<SkillDiscriminator>> made =
          SkillDiscriminator::Create(config.num_skills, config.diversity.discriminator_hidden,
                                     config.diversity.discriminator_lr, *device, generator);
      if (!made.ok()) return made.status();
      discriminator = *std::move(made);
    }
    return std::unique_ptr<Sac>(new Sac(config, obs_dim, action_dim, *device, std::move(generator),
                                        *std::move(actor), *std::move(critic),
                                        *std::move(target_critic), std::move(discriminator)));
  });
}

double Sac::alpha() const { return std::exp(log_alpha_.detach().to(torch::kCPU).item<double>()); }

absl::StatusOr<torch::Tensor> Sac::RowsToDevice(absl::Span<const float> rows, int64_t n) const {
  const int64_t width = row_width();
  if (static_cast<int64_t>(rows.size()) != n * width) {
    return absl::InvalidArgumentError(
        absl::StrCat("got ", rows.size(), " row floats, expected ", n, " rows of ", width));
  }
  if (config_.num_skills > 0) {
    for (int64_t r = 0; r < n; ++r) {
      const double skill = rows[static_cast<size_t>(r * width + skill_column())];
      if (absl::Status s =
              CheckSkill(skill, config_.num_skills,
                         absl::StrCat("row ", r, " column skill (index ", skill_column(), ")"));
          !s.ok()) {
        return s;
      }
    }
  }
  return TransitionRowsToDevice(rows, n, width, device_, "rows");
}

Sac::Batch Sac::SplitRows(const torch::Tensor& rows) const {
  auto column = [&](int64_t start, int64_t width) {
    return rows.narrow(1, start, width).contiguous();
  };
  Batch batch;
  static_cast<TransitionColumns&>(batch) = SplitTransitionColumns(rows, obs_dim_, action_dim_);
  if (config_.num_skills > 0) {
    const int64_t k = skill_column();
    batch.skills = column(k, 1).squeeze(1).to(torch::kLong);
    const torch::Tensor one_hot =
        torch::one_hot(batch.skills, config_.num_skills).to(torch::kFloat32);
    batch.obs = torch::cat({batch.obs, one_hot}, 1);
    batch.next_obs = torch::cat({batch.next_obs, one_hot}, 1);
    batch.descriptors = column(k + 1, kSkillDescriptorDim);
    batch.next_descriptors = column(k + 1 + kSkillDescriptorDim, kSkillDescriptorDim);
    batch.returns = column(k + 1 + 2 * kSkillDescriptorDim, 1);
  }
  return batch;
}

std::pair<torch::Tensor, torch::Tensor> Sac::ActorHeadsOrThrow(const torch::Tensor& obs) const {
  const torch::Tensor out = actor_.ForwardOrThrow(obs)[0];  // [B, 2A]
  return {out.narrow(1, 0, action_dim_),
          torch::softplus(out.narrow(1, action_dim_, action_dim_)) + config_.min_std};
}

Sac::TargetParts Sac::CriticTargetOrThrow(const Batch& batch, const torch::Tensor& unit_noise,
                                          const torch::Tensor& alpha) const {
  torch::NoGradGuard no_grad;
  TargetParts parts;
  if (discriminator_ != nullptr) {
    parts.intrinsic = discriminator_->IntrinsicRewardOrThrow(batch.next_descriptors, batch.skills);
  }
  parts.reward = ShapedRewardOrThrow(config_.diversity, batch.rewards, parts.intrinsic,
                                     batch.returns, &parts.gate);
  const auto [mu, std] = ActorHeadsOrThrow(batch.next_obs);
  const torch::Tensor u = mu + std * unit_noise;
  parts.next_log_prob = TanhGaussianLogProbOrThrow(mu, std, u);
  const torch::Tensor next_q =  // [2, B, 1]
      target_critic_.ForwardOrThrow(torch::cat({batch.next_obs, torch::tanh(u)}, 1));
  const torch::Tensor next_v = std::get<0>(next_q.min(0)) - alpha * parts.next_log_prob;
  parts.target =
      parts.reward * config_.reward_scaling + (1.0 - batch.dones) * config_.discount * next_v;
  return parts;
}

torch::Tensor Sac::AlphaLossOrThrow(const Batch& batch, const torch::Tensor& unit_noise) const {
  torch::Tensor log_prob;
  {
    torch::NoGradGuard no_grad;  // stopgrad(-log pi - H-bar): only log alpha moves
    const auto [mu, std] = ActorHeadsOrThrow(batch.obs);
    log_prob = TanhGaussianLogProbOrThrow(mu, std, mu + std * unit_noise);
  }
  return (log_alpha_.exp() * (-log_prob - target_entropy_)).mean();
}

torch::Tensor Sac::CriticLossOrThrow(const Batch& batch, const torch::Tensor& target) const {
  const torch::Tensor q = critic_.ForwardOrThrow(torch::cat({batch.obs, batch.actions}, 1));
  // Time-limit truncations are not bootstrapped: their TD error is masked out (QDax).
  const torch::Tensor error = (q - target) * (1.0 - batch.truncations);  // [2, B, 1]
  return 0.5 * error.square().mean();
}

torch::Tensor Sac::ActorLossOrThrow(const Batch& batch, const torch::Tensor& unit_noise,
                                    const torch::Tensor& alpha, torch::Tensor* log_prob) const {
  const auto [mu, std] = ActorHeadsOrThrow(batch.obs);
  const torch::Tensor u = mu + std * unit_noise;
  const torch::Tensor lp = TanhGaussianLogProbOrThrow(mu, std, u);
  // The critics detached: gradients reach the actor only.
  std::vector<torch::Tensor> weights;
  std::vector<torch::Tensor> biases;
  for (size_t l = 0; l < critic_.weights().size(); ++l) {
    weights.push_back(critic_.weights()[l].detach());
    biases.push_back(critic_.biases()[l].detach());
  }
  const torch::Tensor q =
      BatchedMlpForward(weights, biases, torch::cat({batch.obs, torch::tanh(u)}, 1),
                        Activation::kRelu, Activation::kIdentity);
  *log_prob = lp.detach().mean();
  return (alpha * lp - std::get<0>(q.min(0))).mean();
}

Sac::StepLosses Sac::StepOrThrow(const Batch& batch, const torch::Tensor& unit_noise) {
  StepLosses losses;
  // Every loss of this step uses the alpha, actor and critics from before it (QDax).
  const torch::Tensor alpha = log_alpha_.detach().exp();
  const TargetParts parts = CriticTargetOrThrow(batch, unit_noise[1], alpha);
  if (discriminator_ != nullptr) {
    losses.discriminator = discriminator_->StepOrThrow(batch.descriptors, batch.skills);
    losses.intrinsic = parts.intrinsic.mean();
    losses.gate = parts.gate.mean();
  }
  if (!config_.fix_alpha) {
    const torch::Tensor alpha_loss = AlphaLossOrThrow(batch, unit_noise[0]);
    alpha_optimizer_->zero_grad();
    alpha_loss.backward();
    alpha_optimizer_->step();
    losses.alpha = alpha_loss.detach();
  }
  const torch::Tensor critic_loss = CriticLossOrThrow(batch, parts.target);
  const torch::Tensor actor_loss = ActorLossOrThrow(batch, unit_noise[2], alpha, &losses.log_prob);
  // Both gradients before either step: the actor loss must see the critics before their update.
  critic_optimizer_->zero_grad();
  actor_optimizer_->zero_grad();
  critic_loss.backward();
  actor_loss.backward();
  critic_optimizer_->step();
  actor_optimizer_->step();
  losses.critic = critic_loss.detach();
  losses.actor = actor_loss.detach();
  return losses;
}

absl::StatusOr<SacReport> Sac::Train(const SampleFn& sample_fn, const InterruptFlag* interrupt) {
  return TrainSteps(sample_fn, config_.steps_per_train, interrupt);
}

absl::StatusOr<SacReport> Sac::TrainSteps(const SampleFn& sample_fn, int64_t steps,
                                          const InterruptFlag* interrupt) {
  SacReport report;
  report.alpha = alpha();
  if (steps <= 0) return report;
  if (Interrupted(interrupt)) return InterruptedError("SAC training");
  const int64_t b = config_.batch_size;
  std::vector<float> host;
  sample_fn(steps * b, &host);
  absl::StatusOr<torch::Tensor> rows = RowsToDevice(host, steps * b);
  if (!rows.ok()) return rows.status();
  const int64_t first_step = step_count_ + 1;
  return CallTorch("Sac::Train", [&]() -> absl::StatusOr<SacReport> {
    // [steps, 3, B, A] drawn on the CPU (device-independent stream); randn locks the generator.
    const torch::Tensor noise =
        torch::randn({steps, 3, b, int64_t{action_dim_}}, generator_).to(device_);
    LossSums sums(device_);
    for (int64_t step = 0; step < steps; ++step) {
      if (Interrupted(interrupt)) return InterruptedError("SAC training");
      const StepLosses l = StepOrThrow(SplitRows(rows->narrow(0, step * b, b)), noise[step]);
      if (absl::Status s = target_critic_.SoftUpdateFrom(critic_, config_.tau); !s.ok()) return s;
      sums.critic += l.critic;
      sums.actor += l.actor;
      sums.log_prob += l.log_prob;
      if (l.alpha.defined()) sums.alpha += l.alpha;
      if (l.discriminator.defined()) {
        sums.discriminator += l.discriminator;
        sums.intrinsic += l.intrinsic;
        sums.gate += l.gate;
      }
      ++step_count_;
      ++report.steps;
    }
    const double n = static_cast<double>(steps);
    report.mean_critic_loss = sums.critic.item<double>() / n;
    report.mean_actor_loss = sums.actor.item<double>() / n;
    report.mean_alpha_loss = sums.alpha.item<double>() / n;
    report.mean_log_prob = sums.log_prob.item<double>() / n;
    report.mean_discriminator_loss = sums.discriminator.item<double>() / n;
    report.mean_intrinsic_reward = sums.intrinsic.item<double>() / n;
    report.gate_open_fraction = sums.gate.item<double>() / n;
    report.alpha = alpha();
    const std::string where = absl::StrCat("in SAC steps ", first_step, "-", step_count_);
    for (const auto& [name, value] :
         {std::pair<const char*, double>{"critic", report.mean_critic_loss},
          {"actor", report.mean_actor_loss},
          {"alpha", report.mean_alpha_loss},
          {"discriminator", report.mean_discriminator_loss}}) {
      if (!std::isfinite(value)) return NonFiniteLossError(name, value, where);
    }
    return report;
  });
}

absl::StatusOr<std::vector<float>> Sac::actor_params() const { return actor_.ToFlat(); }

absl::StatusOr<std::vector<float>> Sac::DeterministicActions(absl::Span<const float> obs,
                                                             absl::Span<const int> skills) const {
  absl::StatusOr<torch::Tensor> input =
      ActorInput(obs, skills, obs_dim_, config_.num_skills, device_);
  if (!input.ok()) return input.status();
  return CallTorch("Sac::DeterministicActions", [&]() -> absl::StatusOr<std::vector<float>> {
    torch::NoGradGuard no_grad;
    return ToHost(torch::tanh(ActorHeadsOrThrow(*input).first));
  });
}

absl::Status Sac::SampleActions(absl::Span<const float> obs, absl::Span<const int> skills,
                                absl::Span<const float> unit_noise, std::vector<float>* actions,
                                std::vector<float>* log_probs) const {
  absl::StatusOr<torch::Tensor> input =
      ActorInput(obs, skills, obs_dim_, config_.num_skills, device_);
  if (!input.ok()) return input.status();
  const int64_t n = input->size(0);
  if (static_cast<int64_t>(unit_noise.size()) != n * action_dim_) {
    return absl::InvalidArgumentError(absl::StrCat("got ", unit_noise.size(), " noise floats for ",
                                                   n, " rows of ", action_dim_, " actions"));
  }
  return CallTorch("Sac::SampleActions", [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    const torch::Tensor eps =
        torch::from_blob(const_cast<float*>(unit_noise.data()), {n, int64_t{action_dim_}},
                         torch::TensorOptions().dtype(torch::kFloat32))
            .to(device_);
    const auto [mu, std] = ActorHeadsOrThrow(*input);
    const torch::Tensor u = mu + std * eps;
    *actions = ToHost(torch::tanh(u));
    *log_probs = ToHost(TanhGaussianLogProbOrThrow(mu, std, u));
    return absl::OkStatus();
  });
}

absl::StatusOr<SacLosses> Sac::ComputeLosses(absl::Span<const float> rows,
                                             absl::Span<const float> unit_noise) const {
  const int64_t n = static_cast<int64_t>(rows.size()) / row_width();
  if (n < 1 || static_cast<int64_t>(unit_noise.size()) != 3 * n * action_dim_) {
    return absl::InvalidArgumentError(absl::StrCat("ComputeLosses got ", rows.size(),
                                                   " row floats (rows of ", row_width(), ") and ",
                                                   unit_noise.size(), " noise floats"));
  }
  absl::StatusOr<torch::Tensor> device_rows = RowsToDevice(rows, n);
  if (!device_rows.ok()) return device_rows.status();
  return CallTorch("Sac::ComputeLosses", [&]() -> absl::StatusOr<SacLosses> {
    torch::NoGradGuard no_grad;
    const torch::Tensor eps =
        torch::from_blob(const_cast<float*>(unit_noise.data()), {3, n, int64_t{action_dim_}},
                         torch::TensorOptions().dtype(torch::kFloat32))
            .to(device_);
    const Batch batch = SplitRows(*device_rows);
    const torch::Tensor alpha = log_alpha_.detach().exp();
    const TargetParts parts = CriticTargetOrThrow(batch, eps[1], alpha);
    SacLosses losses;
    losses.alpha_loss = config_.fix_alpha ? 0.0 : AlphaLossOrThrow(batch, eps[0]).item<double>();
    losses.critic_loss = CriticLossOrThrow(batch, parts.target).item<double>();
    torch::Tensor log_prob;
    losses.actor_loss = ActorLossOrThrow(batch, eps[2], alpha, &log_prob).item<double>();
    losses.mean_log_prob = log_prob.item<double>();
    losses.reward = ToHost(parts.reward);
    losses.target_q = ToHost(parts.target);
    losses.next_log_prob = ToHost(parts.next_log_prob);
    if (discriminator_ != nullptr) {
      losses.discriminator_loss =
          discriminator_->LossOrThrow(batch.descriptors, batch.skills).item<double>();
      losses.intrinsic = ToHost(parts.intrinsic);
      losses.gate = ToHost(parts.gate);
    }
    return losses;
  });
}

void Sac::WriteState(torch::serialize::OutputArchive& archive) const {
  archive.write("format_version", torch::tensor({kSaveFormatVersion}));
  archive.write("layout",
                torch::tensor({int64_t{obs_dim_}, int64_t{action_dim_}, int64_t{config_.num_skills},
                               static_cast<int64_t>(config_.diversity.mode)}));
  WriteNet(archive, "actor", actor_);
  WriteNet(archive, "critic", critic_);
  WriteNet(archive, "target_critic", target_critic_);
  archive.write("log_alpha", log_alpha_.detach());
  WriteOptimizer(archive, "actor_optimizer", *actor_optimizer_);
  WriteOptimizer(archive, "critic_optimizer", *critic_optimizer_);
  WriteOptimizer(archive, "alpha_optimizer", *alpha_optimizer_);
  if (discriminator_ != nullptr) {
    WriteNet(archive, "discriminator", discriminator_->network());
    WriteOptimizer(archive, "discriminator_optimizer", discriminator_->optimizer());
  }
  archive.write("step_count", torch::tensor({step_count_}));
  archive.write("generator_state", generator_.get_state());
}

absl::StatusOr<std::string> Sac::Save() const {
  return CallTorch("Sac::Save", [&]() -> absl::StatusOr<std::string> {
    torch::serialize::OutputArchive archive;
    WriteState(archive);
    std::ostringstream out;
    archive.save_to(out);
    return out.str();
  });
}

absl::Status Sac::ReadState(torch::serialize::InputArchive& archive) {
  torch::Tensor version;
  if (!archive.try_read("format_version", version) || version.numel() != 1 ||
      version.to(torch::kCPU).item<int64_t>() != kSaveFormatVersion) {
    return absl::InvalidArgumentError("SAC checkpoint has no or an unknown format_version");
  }
  torch::Tensor layout;
  const torch::Tensor expected =
      torch::tensor({int64_t{obs_dim_}, int64_t{action_dim_}, int64_t{config_.num_skills},
                     static_cast<int64_t>(config_.diversity.mode)});
  if (!archive.try_read("layout", layout) || !layout.to(torch::kCPU).equal(expected)) {
    return absl::InvalidArgumentError(
        "SAC checkpoint has other obs_dim, action_dim, num_skills or diversity mode");
  }
  // Check every tensor before writing any, so a mismatched checkpoint changes nothing.
  std::vector<PendingCopy> pending;
  for (const auto& [name, net] : {std::pair<const char*, const BatchedPolicies*>{"actor", &actor_},
                                  {"critic", &critic_},
                                  {"target_critic", &target_critic_}}) {
    if (absl::Status s = ReadNet(archive, name, *net, pending); !s.ok()) return s;
  }
  if (discriminator_ != nullptr) {
    if (absl::Status s = ReadNet(archive, "discriminator", discriminator_->network(), pending);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = ReadTensor(archive, "log_alpha", log_alpha_, pending); !s.ok()) return s;
  std::vector<std::pair<const char*, torch::optim::Adam*>> optimizer_keys = {
      {"actor_optimizer", actor_optimizer_.get()},
      {"critic_optimizer", critic_optimizer_.get()},
      {"alpha_optimizer", alpha_optimizer_.get()}};
  if (discriminator_ != nullptr) {
    optimizer_keys.emplace_back("discriminator_optimizer", &discriminator_->optimizer());
  }
  std::vector<PendingOptimizer> optimizers;
  for (const auto& [name, optimizer] : optimizer_keys) {
    if (absl::Status s = ReadOptimizer(archive, name, *optimizer, optimizers); !s.ok()) return s;
  }
  torch::Tensor step_count, generator_state;
  if (!archive.try_read("step_count", step_count) || step_count.numel() != 1 ||
      !archive.try_read("generator_state", generator_state) ||
      !SameShapeAndType(generator_state, generator_.get_state())) {
    return absl::InvalidArgumentError(
        "SAC checkpoint has no or malformed step_count or generator_state");
  }
  ApplyPendingCopies(pending);
  ApplyPendingOptimizers(optimizers);
  step_count_ = step_count.to(torch::kCPU)[0].item<int64_t>();
  std::lock_guard<std::mutex> lock(generator_.mutex());
  generator_.set_state(generator_state.to(torch::kCPU));
  return absl::OkStatus();
}

absl::Status Sac::Load(const std::string& bytes) {
  torch::serialize::InputArchive archive;
  try {
    std::istringstream in(bytes);
    archive.load_from(in, device_);
  } catch (const std::bad_alloc& e) {
    return OutOfMemoryError("reading the SAC checkpoint", e.what());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read SAC checkpoint: ", e.what()));
  }
  return CallTorch("Sac::Load", [&]() -> absl::Status { return ReadState(archive); });
}

}  // namespace gdaqd::server::models

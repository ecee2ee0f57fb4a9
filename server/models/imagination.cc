#include "server/models/imagination.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/errors.h"
#include "server/models/host_mlp.h"
#include "server/models/torch_util.h"

namespace gdaqd::server::models {
namespace {

absl::Status CheckRequest(const GroupedDynamics& model, const ImaginedTask& task,
                          const ImaginationRequest& request) {
  if (absl::Status status = request.shape.Validate(); !status.ok()) return status;
  if (request.shape.obs_dim != model.obs_dim() || request.shape.action_dim != model.action_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "policy maps ", request.shape.obs_dim, " -> ", request.shape.action_dim,
        " but the model has obs_dim ", model.obs_dim(), " and action_dim ", model.action_dim()));
  }
  const int64_t num_params = request.shape.num_params();
  const int64_t p = static_cast<int64_t>(request.member.size());
  if (static_cast<int64_t>(request.params.size()) != p * num_params) {
    return absl::InvalidArgumentError(absl::StrCat("params has ", request.params.size(),
                                                   " floats, expected ", p, " x ", num_params));
  }
  for (int64_t i = 0; i < p; ++i) {
    if (request.member[i] < 0 || request.member[i] >= model.members()) {
      return absl::InvalidArgumentError(absl::StrCat("member[", i, "] is ", request.member[i],
                                                     ", must be in [0, ", model.members(), ")"));
    }
  }
  if (static_cast<int>(request.initial_obs.size()) != model.obs_dim()) {
    return absl::InvalidArgumentError(absl::StrCat("initial_obs has ", request.initial_obs.size(),
                                                   " values, expected ", model.obs_dim()));
  }
  for (float v : request.initial_obs) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("initial_obs is not finite");
  }
  if (request.episode_length < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("episode_length must be >= 1, got ", request.episode_length));
  }
  if (task.descriptor_dim() < 1) return absl::InvalidArgumentError("task has no descriptor");
  return absl::OkStatus();
}

// The default GroupedStepper: PredictGrouped on tensors wrapping the host buffers.
class PredictGroupedStepper final : public GroupedStepper {
 public:
  PredictGroupedStepper(const GroupedDynamics& model, int64_t per_member)
      : model_(model), per_member_(per_member) {}

  absl::Status Step(absl::Span<const float> obs, absl::Span<const float> actions, bool sample,
                    c10::optional<at::Generator> generator, absl::Span<float> next_obs) override {
    const int64_t rows = model_.members() * per_member_;
    if (static_cast<int64_t>(obs.size()) != rows * model_.obs_dim() ||
        static_cast<int64_t>(next_obs.size()) != rows * model_.obs_dim() ||
        static_cast<int64_t>(actions.size()) != rows * model_.action_dim()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stepper buffers do not hold ", rows, " rows of obs, actions and next_obs"));
    }
    return CallTorch("GroupedStepper::Step", [&]() -> absl::Status {
      c10::InferenceMode inference;
      const auto host = torch::TensorOptions().dtype(torch::kFloat32);
      const int64_t e = model_.members();
      const torch::Tensor o =
          torch::from_blob(const_cast<float*>(obs.data()), {e, per_member_, model_.obs_dim()}, host)
              .to(model_.device());
      const torch::Tensor a = torch::from_blob(const_cast<float*>(actions.data()),
                                               {e, per_member_, model_.action_dim()}, host)
                                  .to(model_.device());
      absl::StatusOr<torch::Tensor> next = model_.PredictGrouped(o, a, sample, generator);
      if (!next.ok()) return next.status();
      const torch::Tensor cpu = next->to(torch::kCPU).contiguous();
      if (cpu.numel() != static_cast<int64_t>(next_obs.size())) {
        return absl::InternalError("PredictGrouped returned a prediction of the wrong size");
      }
      std::memcpy(next_obs.data(), cpu.data_ptr<float>(), next_obs.size() * sizeof(float));
      return absl::OkStatus();
    });
  }

 private:
  const GroupedDynamics& model_;
  int64_t per_member_;
};

// Slot layout: member e owns slots [e * per_member, (e + 1) * per_member). Slot s runs the
// parameters of policy source[s]; policy[s] is the rollout it scores, or -1 for padding (slots
// beyond a member's own rollouts repeat one of them and are ignored).
struct SlotLayout {
  int members = 0;
  int64_t per_member = 0;
  int64_t slots = 0;
  std::vector<int64_t> policy;  // [slots]
  std::vector<int64_t> source;  // [slots]
};

SlotLayout LayOutSlots(int members, absl::Span<const int32_t> member) {
  SlotLayout layout;
  layout.members = members;
  std::vector<std::vector<int64_t>> by_member(members);
  for (int64_t i = 0; i < static_cast<int64_t>(member.size()); ++i) {
    by_member[member[i]].push_back(i);
  }
  for (const auto& group : by_member) {
    layout.per_member = std::max<int64_t>(layout.per_member, group.size());
  }
  layout.slots = members * layout.per_member;
  layout.policy.assign(layout.slots, -1);
  layout.source.assign(layout.slots, 0);
  for (int e = 0; e < members; ++e) {
    const std::vector<int64_t>& group = by_member[e];
    for (int64_t j = 0; j < layout.per_member; ++j) {
      const int64_t s = e * layout.per_member + j;
      if (j < static_cast<int64_t>(group.size())) layout.policy[s] = group[j];
      if (!group.empty()) layout.source[s] = group[std::min<int64_t>(j, group.size() - 1)];
    }
  }
  return layout;
}

// Host copies of one step, [slots, dim] row-major, and the rollouts' progress.
struct RolloutState {
  std::vector<float> obs, next, actions;
  std::vector<float> reward;
  std::vector<uint8_t> terminated;
  std::vector<uint8_t> alive;
  std::vector<float> final_obs;  // each slot's last finite observation, for the descriptor
};

RolloutState InitialState(const SlotLayout& layout, absl::Span<const float> initial_obs,
                          int action_dim) {
  const int64_t obs_dim = static_cast<int64_t>(initial_obs.size());
  RolloutState st;
  st.obs.resize(layout.slots * obs_dim);
  for (int64_t s = 0; s < layout.slots; ++s) {
    std::copy(initial_obs.begin(), initial_obs.end(), &st.obs[s * obs_dim]);
  }
  st.next.resize(st.obs.size());
  st.actions.resize(layout.slots * action_dim);
  st.reward.resize(layout.slots);
  st.terminated.resize(layout.slots);
  st.alive.resize(layout.slots);
  for (int64_t s = 0; s < layout.slots; ++s) st.alive[s] = layout.policy[s] >= 0;
  st.final_obs = st.obs;
  return st;
}

// Scores the step st.obs --st.actions--> st.next with the task and updates the rollouts (fitness,
// steps, divergence, termination). Returns whether any rollout is still alive.
bool ScoreStep(const ImaginedTask& task, const SlotLayout& layout, bool terminate, int obs_dim,
               RolloutState& st, ImaginedEpisodes& out) {
  task.Step(st.obs, st.actions, st.next, absl::MakeSpan(st.reward), absl::MakeSpan(st.terminated));
  bool any_alive = false;
  for (int64_t s = 0; s < layout.slots; ++s) {
    if (!st.alive[s]) continue;
    const int64_t i = layout.policy[s];
    const float* row = &st.next[s * obs_dim];
    bool finite = true;
    for (int k = 0; k < obs_dim; ++k) finite = finite && std::isfinite(row[k]);
    ++out.steps[i];
    if (!finite || !std::isfinite(st.reward[s])) {
      out.diverged[i] = 1;
      st.alive[s] = 0;
      continue;
    }
    out.fitness[i] += st.reward[s];
    std::memcpy(&st.final_obs[s * obs_dim], row, obs_dim * sizeof(float));
    if (terminate && st.terminated[s]) {
      st.alive[s] = 0;
    } else {
      any_alive = true;
    }
  }
  return any_alive;
}

// The CPU loop: host policy kernel (live slots only) and the model's host stepper.
absl::Status RunOnHost(const GroupedDynamics& model, const ImaginedTask& task,
                       const ImaginationRequest& request, const SlotLayout& layout,
                       c10::optional<at::Generator> generator, RolloutState& st,
                       ImaginedEpisodes& out) {
  const std::vector<int> sizes = request.shape.sizes();
  const Activation hidden = *ParseActivation(request.shape.hidden_activation);
  const Activation output = *ParseActivation(request.shape.output_activation);
  const int64_t num_params = request.shape.num_params();
  std::vector<const float*> params(layout.slots);
  for (int64_t s = 0; s < layout.slots; ++s) {
    params[s] = request.params.data() + layout.source[s] * num_params;
  }
  absl::StatusOr<std::unique_ptr<GroupedStepper>> stepper =
      model.MakeHostStepper(layout.per_member);
  if (!stepper.ok()) return stepper.status();
  for (int t = 0; t < request.episode_length; ++t) {
    if (Interrupted(request.interrupt)) return InterruptedError("imagination");
    HostMlpForward(sizes, hidden, output, params, st.obs, st.alive, absl::MakeSpan(st.actions));
    if (absl::Status s = (*stepper)->Step(st.obs, st.actions, request.sample, generator,
                                          absl::MakeSpan(st.next));
        !s.ok()) {
      return s;
    }
    if (!ScoreStep(task, layout, request.terminate, model.obs_dim(), st, out)) break;
    st.obs.swap(st.next);
  }
  return absl::OkStatus();
}

// The LibTorch loop (GPU models, or request.host_kernels false): policies and observations stay
// on the model's device; predictions and actions come to the host for the task every step.
absl::Status RunWithTorch(const GroupedDynamics& model, const ImaginedTask& task,
                          const ImaginationRequest& request, const SlotLayout& layout,
                          c10::optional<at::Generator> generator, RolloutState& st,
                          ImaginedEpisodes& out) {
  const int64_t num_params = request.shape.num_params();
  const int obs_dim = model.obs_dim(), action_dim = model.action_dim();
  std::vector<float> slot_params(layout.slots * num_params);
  for (int64_t s = 0; s < layout.slots; ++s) {
    std::memcpy(&slot_params[s * num_params], &request.params[layout.source[s] * num_params],
                num_params * sizeof(float));
  }
  absl::StatusOr<BatchedPolicies> policies =
      BatchedPolicies::FromFlat(request.shape, slot_params, model.device());
  if (!policies.ok()) return policies.status();
  const int64_t slots = layout.slots, members = layout.members, per = layout.per_member;
  return CallTorch("ImagineEpisodes", [&]() -> absl::Status {
    c10::InferenceMode inference;
    const auto host = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor obs = torch::from_blob(st.obs.data(), {slots, 1, obs_dim}, host)
                            .to(model.device(), /*non_blocking=*/false, /*copy=*/true);
    for (int t = 0; t < request.episode_length; ++t) {
      if (Interrupted(request.interrupt)) return InterruptedError("imagination");
      const torch::Tensor actions = policies->ForwardOrThrow(obs);  // [slots, 1, action_dim]
      absl::StatusOr<torch::Tensor> next =
          model.PredictGrouped(obs.view({members, per, obs_dim}),
                               actions.view({members, per, action_dim}), request.sample, generator);
      if (!next.ok()) return next.status();
      const torch::Tensor next_cpu = next->reshape({slots, obs_dim}).to(torch::kCPU).contiguous();
      const torch::Tensor actions_cpu =
          actions.reshape({slots, action_dim}).to(torch::kCPU).contiguous();
      std::memcpy(st.next.data(), next_cpu.data_ptr<float>(), st.next.size() * sizeof(float));
      std::memcpy(st.actions.data(), actions_cpu.data_ptr<float>(),
                  st.actions.size() * sizeof(float));
      if (!ScoreStep(task, layout, request.terminate, obs_dim, st, out)) break;
      st.obs.swap(st.next);
      obs = next->reshape({slots, 1, obs_dim});
    }
    return absl::OkStatus();
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<GroupedStepper>> GroupedDynamics::MakeHostStepper(
    int64_t per_member) const {
  if (per_member < 1) {
    return absl::InvalidArgumentError(absl::StrCat("per_member must be >= 1, got ", per_member));
  }
  return std::make_unique<PredictGroupedStepper>(*this, per_member);
}

absl::StatusOr<ImaginedEpisodes> ImagineEpisodes(const GroupedDynamics& model,
                                                 const ImaginedTask& task,
                                                 const ImaginationRequest& request,
                                                 c10::optional<at::Generator> generator) {
  if (absl::Status status = CheckRequest(model, task, request); !status.ok()) return status;
  const int64_t p = static_cast<int64_t>(request.member.size());
  const int descriptor_dim = task.descriptor_dim();
  ImaginedEpisodes out;
  out.fitness.assign(p, 0.0f);
  out.descriptors.assign(p * descriptor_dim, 0.0f);
  out.diverged.assign(p, 0);
  out.steps.assign(p, 0);
  if (p == 0) return out;

  const SlotLayout layout = LayOutSlots(model.members(), request.member);
  RolloutState st = InitialState(layout, request.initial_obs, model.action_dim());
  const bool on_host = request.host_kernels && model.device().is_cpu();
  absl::Status status = on_host ? RunOnHost(model, task, request, layout, generator, st, out)
                                : RunWithTorch(model, task, request, layout, generator, st, out);
  if (!status.ok()) return status;

  std::vector<float> descriptors(layout.slots * descriptor_dim);
  task.Descriptor(st.final_obs, absl::MakeSpan(descriptors));
  for (int64_t s = 0; s < layout.slots; ++s) {
    const int64_t i = layout.policy[s];
    if (i < 0) continue;
    std::memcpy(&out.descriptors[i * descriptor_dim], &descriptors[s * descriptor_dim],
                descriptor_dim * sizeof(float));
  }
  return out;
}

int64_t ImaginedStepFlops(const PolicyShape& policy, int obs_dim, int action_dim,
                          absl::Span<const int> model_hidden) {
  int64_t macs = 0;
  const std::vector<int> sizes = policy.sizes();
  for (size_t l = 0; l + 1 < sizes.size(); ++l) macs += int64_t{sizes[l]} * sizes[l + 1];
  int64_t in = obs_dim + action_dim;
  for (int h : model_hidden) {
    macs += in * h;
    in = h;
  }
  macs += in * 2 * obs_dim;  // mean and log-std heads
  return 2 * macs;
}

}  // namespace gdaqd::server::models

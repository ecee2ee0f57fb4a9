#include "server/models/imagination.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/models/errors.h"
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

}  // namespace

absl::StatusOr<ImaginedEpisodes> ImagineEpisodes(const GroupedDynamics& model,
                                                 const ImaginedTask& task,
                                                 const ImaginationRequest& request,
                                                 c10::optional<at::Generator> generator) {
  if (absl::Status status = CheckRequest(model, task, request); !status.ok()) return status;
  const int64_t p = static_cast<int64_t>(request.member.size());
  const int obs_dim = model.obs_dim();
  const int action_dim = model.action_dim();
  const int descriptor_dim = task.descriptor_dim();
  const int64_t num_params = request.shape.num_params();

  ImaginedEpisodes out;
  out.fitness.assign(p, 0.0f);
  out.descriptors.assign(p * descriptor_dim, 0.0f);
  out.diverged.assign(p, 0);
  out.steps.assign(p, 0);
  if (p == 0) return out;

  // Slot layout: member e owns slots [e * per_member, (e + 1) * per_member). Slot s runs policy
  // slot_policy[s]; slots beyond a member's own rollouts repeat one of them and are ignored.
  const int members = model.members();
  std::vector<std::vector<int64_t>> by_member(members);
  for (int64_t i = 0; i < p; ++i) by_member[request.member[i]].push_back(i);
  int64_t per_member = 0;
  for (const auto& group : by_member) per_member = std::max<int64_t>(per_member, group.size());
  const int64_t slots = members * per_member;
  std::vector<int64_t> slot_policy(slots, -1);  // -1: padding
  std::vector<float> slot_params(slots * num_params);
  for (int e = 0; e < members; ++e) {
    for (int64_t j = 0; j < per_member; ++j) {
      const std::vector<int64_t>& group = by_member[e];
      const int64_t s = e * per_member + j;
      const int64_t source = group.empty() ? 0 : group[std::min<int64_t>(j, group.size() - 1)];
      if (j < static_cast<int64_t>(group.size())) slot_policy[s] = group[j];
      std::memcpy(&slot_params[s * num_params], &request.params[source * num_params],
                  num_params * sizeof(float));
    }
  }

  absl::StatusOr<BatchedPolicies> policies =
      BatchedPolicies::FromFlat(request.shape, slot_params, model.device());
  if (!policies.ok()) return policies.status();

  // Host copies of each step, [slots, dim].
  std::vector<float> obs_host(slots * obs_dim), next_host(slots * obs_dim);
  std::vector<float> action_host(slots * action_dim);
  for (int64_t s = 0; s < slots; ++s) {
    std::copy(request.initial_obs.begin(), request.initial_obs.end(), &obs_host[s * obs_dim]);
  }
  std::vector<float> reward(slots);
  std::vector<uint8_t> terminated(slots);
  std::vector<uint8_t> alive(slots);
  for (int64_t s = 0; s < slots; ++s) alive[s] = slot_policy[s] >= 0;
  // Final observation of each slot (for the descriptor), [slots, obs_dim].
  std::vector<float> final_obs = obs_host;

  absl::Status status = CallTorch("ImagineEpisodes", [&]() -> absl::Status {
    c10::InferenceMode inference;
    const auto host = torch::TensorOptions().dtype(torch::kFloat32);
    torch::Tensor obs = torch::from_blob(obs_host.data(), {slots, 1, obs_dim}, host)
                            .to(model.device(), /*non_blocking=*/false, /*copy=*/true);
    for (int t = 0; t < request.episode_length; ++t) {
      if (Interrupted(request.interrupt)) return InterruptedError("imagination");
      const torch::Tensor actions = policies->ForwardOrThrow(obs);  // [slots, 1, action_dim]
      absl::StatusOr<torch::Tensor> next = model.PredictGrouped(
          obs.view({members, per_member, obs_dim}), actions.view({members, per_member, action_dim}),
          request.sample, generator);
      if (!next.ok()) return next.status();
      const torch::Tensor next_cpu = next->reshape({slots, obs_dim}).to(torch::kCPU).contiguous();
      const torch::Tensor actions_cpu =
          actions.reshape({slots, action_dim}).to(torch::kCPU).contiguous();
      std::memcpy(next_host.data(), next_cpu.data_ptr<float>(), next_host.size() * sizeof(float));
      std::memcpy(action_host.data(), actions_cpu.data_ptr<float>(),
                  action_host.size() * sizeof(float));
      task.Step(obs_host, action_host, next_host, absl::MakeSpan(reward),
                absl::MakeSpan(terminated));
      bool any_alive = false;
      for (int64_t s = 0; s < slots; ++s) {
        if (!alive[s]) continue;
        const int64_t i = slot_policy[s];
        const float* row = &next_host[s * obs_dim];
        bool finite = true;
        for (int k = 0; k < obs_dim; ++k) finite = finite && std::isfinite(row[k]);
        ++out.steps[i];
        if (!finite || !std::isfinite(reward[s])) {
          out.diverged[i] = 1;
          alive[s] = 0;
          continue;
        }
        out.fitness[i] += reward[s];
        std::memcpy(&final_obs[s * obs_dim], row, obs_dim * sizeof(float));
        if (request.terminate && terminated[s]) {
          alive[s] = 0;
        } else {
          any_alive = true;
        }
      }
      if (!any_alive) break;
      obs_host.swap(next_host);
      obs = next->reshape({slots, 1, obs_dim});
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;

  std::vector<float> descriptors(slots * descriptor_dim);
  task.Descriptor(final_obs, absl::MakeSpan(descriptors));
  for (int64_t s = 0; s < slots; ++s) {
    const int64_t i = slot_policy[s];
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

// The observation-level task functions imagination scores predicted states with
// (server/algorithms/imagined_task.h) against the MuJoCo environments the workers run: fed the
// real observations of a real episode, they must give back the episode's rewards, its
// termination and its descriptor. If the observation encoding and its inverse disagreed,
// imagination would optimise the wrong thing without any error.
#include "server/algorithms/imagined_task.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/config.h"
#include "common/mlp_policy.h"
#include "common/rollout.h"
#include "common/task.h"
#include "gtest/gtest.h"
#include "server/algorithms/map_elites.h"
#include "tests/testing/status_matchers.h"
#include "worker/sim/mujoco_tasks.h"

namespace gdaqd {
namespace {

class ImaginedAntTaskTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ImaginedAntTaskTest, ReproducesTheSimulatorsRewardsTerminationAndDescriptor) {
  worker::RegisterMujocoTasks();
  const std::string task_name = GetParam();
  GDAQD_ASSERT_OK_AND_ASSIGN(common::TaskSpec spec, common::GetTaskSpec(task_name, 150));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto env, common::MakeEnvironment(task_name, 150));
  GDAQD_ASSERT_OK_AND_ASSIGN(auto imagined, server::MakeImaginedTask(spec));
  GDAQD_ASSERT_OK_AND_ASSIGN(
      gdaqd::v1::ExperimentConfig config,
      common::ParseExperimentConfig(absl::StrCat("env { task: \"", task_name,
                                                 "\" episode_length: 150 } "
                                                 "budget { max_evaluations: 1 }")));
  GDAQD_ASSERT_OK_AND_ASSIGN(common::MlpLayout layout,
                             common::PolicyLayout(config.env(), config.policy()));
  const int obs = spec.obs_dim, act = spec.action_dim, row = 2 * obs + act + 3;
  int compared_steps = 0, terminated_episodes = 0;
  for (int p = 0; p < 6; ++p) {
    SCOPED_TRACE(p);
    uint64_t drawn = p;
    std::vector<float> params;
    server::RandomPolicies(layout, /*seed=*/21, 1, &drawn, &params);
    for (float& w : params) w *= (p % 3 == 0) ? 4.0f : 1.0f;  // some wild gaits that fall over
    GDAQD_ASSERT_OK_AND_ASSIGN(common::MlpPolicy policy, common::MlpPolicy::Create(layout, params));
    common::EpisodeResult result;
    common::RunEpisode(*env, policy, /*seed=*/0, /*record_transitions=*/true, &result);
    ASSERT_FALSE(result.diverged);
    ASSERT_EQ(static_cast<int>(result.transitions.size()), result.length * row);
    // Rows: [obs, action, reward, next_obs, done, truncated].
    std::vector<float> o(obs), a(act), n(obs);
    for (int t = 0; t < result.length; ++t) {
      const float* r = &result.transitions[t * row];
      o.assign(r, r + obs);
      a.assign(r + obs, r + obs + act);
      n.assign(r + obs + act + 1, r + 2 * obs + act + 1);
      float reward = 0;
      uint8_t done = 0;
      imagined->Step(o, a, n, absl::MakeSpan(&reward, 1), absl::MakeSpan(&done, 1));
      // The simulator computes in double from qpos; observations are float (x, y normalised).
      EXPECT_NEAR(reward, r[obs + act], 2e-3 * (1 + std::abs(r[obs + act]))) << "step " << t;
      EXPECT_EQ(done != 0, r[2 * obs + act + 1] != 0) << "step " << t;
      ++compared_steps;
    }
    terminated_episodes += result.terminated ? 1 : 0;
    std::vector<float> descriptor(2);
    const float* last_next = &result.transitions[(result.length - 1) * row + obs + act + 1];
    imagined->Descriptor(absl::MakeConstSpan(last_next, obs), absl::MakeSpan(descriptor));
    EXPECT_NEAR(descriptor[0], result.descriptor[0], 1e-4);
    EXPECT_NEAR(descriptor[1], result.descriptor[1], 1e-4);
  }
  EXPECT_GT(compared_steps, 300);
  if (task_name != "ant_maze") {  // the maze's z band is wide; falls end trap and omni episodes
    EXPECT_GT(terminated_episodes, 0) << "no episode exercised termination";
  }
}

INSTANTIATE_TEST_SUITE_P(AntTasks, ImaginedAntTaskTest,
                         ::testing::Values("ant_trap", "ant_maze", "ant_omni"));

}  // namespace
}  // namespace gdaqd

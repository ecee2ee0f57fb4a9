// PGA-ME's config rules (Nilsson & Cully 2021): the pga.* section's defaults and validation, also
// used by the model-based algorithms (GDA_QD's critic, DA_QD_EXT's replay buffer and device).
// Thread-safe (pure functions).
#ifndef GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_RULES_H_
#define GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_RULES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "common/config/algorithms/pga_defaults.h"
#include "gdaqd/v1/config.pb.h"

namespace gdaqd::common {

// The pga.* fields every learning algorithm reads: replay capacity, device and torch threads.
void ApplySharedPgaDefaults(gdaqd::v1::PgaConfig* pga);
// The shared fields and the critic's (TD3) and policy-gradient children's.
void ApplyPgaDefaults(gdaqd::v1::PgaConfig* pga);

// A critic algorithm's pga.* section. InvalidArgument naming the field.
absl::Status ValidatePgaWithCritic(const gdaqd::v1::ExperimentConfig& config);
// A learning algorithm without a critic: the shared fields only, and no critic field set (a
// critic field would be silently ignored, so it is refused). InvalidArgument naming the field.
absl::Status ValidatePgaWithoutCritic(const gdaqd::v1::ExperimentConfig& config);

}  // namespace gdaqd::common

#endif  // GDAQD_COMMON_CONFIG_ALGORITHMS_PGA_RULES_H_

#include "server/algorithms/algorithm.h"

#include "absl/strings/str_cat.h"
#include "server/algorithms/map_elites.h"
#include "server/algorithms/model_based_qd.h"
#include "server/algorithms/pga_me.h"

namespace gdaqd::server {

absl::StatusOr<std::unique_ptr<QdAlgorithm>> MakeAlgorithm(
    const gdaqd::v1::ExperimentConfig& config) {
  switch (config.algorithm()) {
    case gdaqd::v1::MAP_ELITES: {
      absl::StatusOr<std::unique_ptr<MapElites>> algorithm = MapElites::Create(config);
      if (!algorithm.ok()) return algorithm.status();
      return std::unique_ptr<QdAlgorithm>(std::move(algorithm).value());
    }
    case gdaqd::v1::PGA_ME: {
      absl::StatusOr<std::unique_ptr<PgaMe>> algorithm = PgaMe::Create(config);
      if (!algorithm.ok()) return algorithm.status();
      return std::unique_ptr<QdAlgorithm>(std::move(algorithm).value());
    }
    case gdaqd::v1::DA_QD_EXT:
    case gdaqd::v1::GDA_QD: {
      absl::StatusOr<std::unique_ptr<ModelBasedQd>> algorithm = ModelBasedQd::Create(config);
      if (!algorithm.ok()) return algorithm.status();
      return std::unique_ptr<QdAlgorithm>(std::move(algorithm).value());
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("algorithm: ", gdaqd::v1::Algorithm_Name(config.algorithm()),
                       " is not an algorithm (use MAP_ELITES, PGA_ME, DA_QD_EXT or GDA_QD)"));
  }
}

}  // namespace gdaqd::server

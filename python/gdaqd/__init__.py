"""Python client of gdaqd (docs/python.md): submit, watch and export experiments of a
coordinator, read results folders, and run archived policies in numpy.

The protobuf modules are generated at build time (python/CMakeLists.txt) into
<build>/python/gdaqd/v1; see gdaqd._stubs for where they are looked for.
"""

from gdaqd import _stubs

__path__ = _stubs.extend_package_path(__path__)  # noqa: F821 (makes gdaqd.v1 importable)

from gdaqd.client import (  # noqa: E402
    FINAL_STATES,
    Archive,
    Client,
    ConfigError,
    GdaqdError,
    Tls,
    history_frame,
    parse_config,
    snapshot_dict,
)
from gdaqd.policy import TASK_DIMS, Policy, PolicyLayout, policies  # noqa: E402
from gdaqd.results import Results, load_results  # noqa: E402
from gdaqd.study import Study, load_study  # noqa: E402
from gdaqd.v1 import config_pb2, coordinator_pb2  # noqa: E402

ExperimentConfig = config_pb2.ExperimentConfig
ExperimentStatus = coordinator_pb2.ExperimentStatus


def state_name(state: int) -> str:
    """"SUCCEEDED" etc. for an ExperimentState value."""
    return coordinator_pb2.ExperimentState.Name(state)


__all__ = [
    "Archive", "Client", "ConfigError", "ExperimentConfig", "ExperimentStatus", "FINAL_STATES",
    "GdaqdError", "Policy", "PolicyLayout", "Results", "Study", "TASK_DIMS", "Tls",
    "history_frame", "load_results", "load_study", "parse_config", "policies", "snapshot_dict",
    "state_name",
]

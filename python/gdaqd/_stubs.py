"""Finds the protobuf and gRPC modules generated from proto/gdaqd/v1 at build time.

CMake (python/CMakeLists.txt, target gdaqd_python, part of `all`) writes them to
<build>/python/gdaqd/v1/*_pb2.py and *_pb2_grpc.py. The package `gdaqd` appends
<stubs>/gdaqd to its own __path__, so they import as gdaqd.v1.config_pb2 etc., which is also how
the generated modules import each other.

Where <stubs> is looked for, first match wins:
  1. $GDAQD_PYTHON_STUBS (the folder that holds gdaqd/v1/),
  2. $GDAQD_BUILD_DIR/python,
  3. <repository>/build/python (the build folder scripts/setup.sh uses).
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))
_MARKER = os.path.join("gdaqd", "v1", "coordinator_pb2.py")


def candidate_dirs():
    """Folders that may hold gdaqd/v1/*_pb2.py, in the order they are tried."""
    dirs = []
    if os.environ.get("GDAQD_PYTHON_STUBS"):
        dirs.append(os.environ["GDAQD_PYTHON_STUBS"])
    if os.environ.get("GDAQD_BUILD_DIR"):
        dirs.append(os.path.join(os.environ["GDAQD_BUILD_DIR"], "python"))
    dirs.append(os.path.join(_REPO, "build", "python"))
    return [os.path.abspath(d) for d in dirs]


def find_stub_dir():
    """The first candidate folder that holds the generated modules; ImportError if none does."""
    tried = candidate_dirs()
    for d in tried:
        if os.path.isfile(os.path.join(d, _MARKER)):
            return d
    raise ImportError(
        "gdaqd: the generated protobuf modules (gdaqd/v1/coordinator_pb2.py) were not found in "
        + ", ".join(tried)
        + ". Build them with `cmake --build build --target gdaqd_python` (scripts/setup.sh "
        "builds them), or point GDAQD_PYTHON_STUBS (or GDAQD_BUILD_DIR) at your build's "
        "python/ folder."
    )


def extend_package_path(package_path):
    """Returns the package __path__ with <stubs>/gdaqd appended (once)."""
    extra = os.path.join(find_stub_dir(), "gdaqd")
    if extra not in package_path:
        package_path.append(extra)
    return package_path

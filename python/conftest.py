# Makes `import gdaqd` work for `python3 -m pytest python/` from the repository root (the package
# lives here, not installed).
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

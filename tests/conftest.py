"""pytest set-up: dual tests import their helpers by bare name, as they do under MicroPython."""

import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (os.path.join(_ROOT, "tests", "dual"), os.path.join(_ROOT, "firmware"), _ROOT):
    if p not in sys.path:
        sys.path.insert(0, p)

"""app_python3 entry point: puts the project (and its venv) on sys.path, hands over to kemi_app."""

import glob
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)
sys.path.extend(glob.glob(os.path.join(_ROOT, ".venv", "lib", "python3*", "site-packages")))

from kemi_app.sip.routes import EdgeRoutes  # noqa: E402


def mod_init() -> EdgeRoutes:
    return EdgeRoutes()

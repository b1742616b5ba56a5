"""pytest setup: the rule (`app.py`) and the weir Python SDK by path (the
`guest-sdk/python` of the weir repository this project was made from)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, "{{python_sdk}}")

"""`farm` with the toy kind of tests/toy_kind.py registered: `python -m tests.toy_farm ARGS`."""

import sys

import tests.toy_kind  # noqa: F401  (registers the kind)
from jobs.cli import main

main(sys.argv[1:])

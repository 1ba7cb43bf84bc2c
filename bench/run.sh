#!/bin/bash
# make bench: the side-by-side benchmarks (see bench/bench.py --help).
set -eu
cd "$(dirname "$0")/.."
exec python3 bench/bench.py "$@"

#!/bin/bash
# Integration tests: record real commands with ./ksight and compare with
# independent oracles (strace -f -c, /proc, the files on disk).
set -u
cd "$(dirname "$0")/.."
mkdir -p build/tests
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -static -o build/tests/workload tests/workload.c || exit 1
gcc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o build/tests/timeload tests/timeload.c || exit 1
exec python3 tests/integration.py "$@"

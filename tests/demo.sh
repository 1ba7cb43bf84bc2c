#!/bin/bash
# make demo: record a short real command and print its report.
set -eu
cd "$(dirname "$0")/.."
out=${DEMO_TRACE:-build/demo.lmdb}
mkdir -p build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmd="tar -C /usr/include -cf - linux | tar -C '$work' -xf -; ls -lR '$work' >/dev/null"
echo "+ ksight record -o $out -- sh -c \"$cmd\""
if ! ./ksight record -o "$out" -- sh -c "$cmd"; then
	echo "demo: recording failed (the line above says why)" >&2
	exit 1
fi
echo "+ ksight report $out"
./ksight report "$out"

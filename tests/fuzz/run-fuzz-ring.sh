#!/bin/sh
# fuzz_ring as a test: run-fuzz.sh with its corpus (tests/fuzz/corpus-ring).
FUZZ_TARGET=fuzz_ring exec "$(dirname "$0")/run-fuzz.sh"

#!/bin/sh
# fuzz_sessions as a test: run-fuzz.sh with its corpus (corpus-sessions).
FUZZ_TARGET=fuzz_sessions exec "$(dirname "$0")/run-fuzz.sh"

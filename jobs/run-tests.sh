#!/bin/sh
# Run the project's own test entry point (./run-tests) in its speculative
# checkout. A project without one passes with a note in the log.
set -eu
echo "testing $GATEQ_PROJECT $GATEQ_CHANGE on: $GATEQ_CHANGES"
if [ -x ./run-tests ]; then
    exec ./run-tests
fi
echo "no ./run-tests in $GATEQ_PROJECT: nothing to run"

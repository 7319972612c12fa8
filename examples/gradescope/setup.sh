#!/usr/bin/env bash
# Gradescope autograder set-up: runs once when the autograder image is built.
# The autograder zip holds this file, run_autograder, and rnn-oracle's source in source/rnn-oracle
# (a clone of the project), with its constraints.txt that pins the CPU build of torch.
set -euo pipefail
cd /autograder/source/rnn-oracle
python3 -m pip install --quiet -c constraints.txt '.[oracle,notebook]'

#!/usr/bin/env bash
# Gradescope autograder set-up: runs once when the autograder image is built.
# The autograder zip holds this file, run_autograder, and rnn-oracle's source in source/rnn-oracle
# (a clone of the project), with its constraints.txt that pins the CPU build of torch.
set -euo pipefail
cd /autograder/source/rnn-oracle
python3 -m pip install --quiet -c constraints.txt '.[oracle,notebook]'
# The references of every case the audit draws (torch twins' results, float32 rounding spreads), computed once
# here so that each submission's run only calls its code and compares (docs/how-to/reference-store.md). A
# submission's run reads them with --references; an entry that does not fit its machine (another CPU kind) or
# fails its checksum is noted and recomputed, never trusted.
rnn-oracle references build --out /autograder/references

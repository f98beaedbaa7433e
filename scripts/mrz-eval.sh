#!/usr/bin/env bash
# The MRZ reading evaluation: generates document photos (half TD1 identity cards, half TD3
# passports, random holders, degraded as phone photos are), reads each through the server's
# own pipeline and scores the reading; exits non-zero when the targets are missed (at least
# 99 % read exactly, no altered zone reported valid). The photos are generated on each run
# and never stored unless asked for with --out.
#
# Usage: scripts/mrz-eval.sh [--count N] [--seed S] [--out DIR]
#   --count N   photos (default 200), plus as many altered copies
#   --seed S    another set of photos (default 1)
#   --out DIR   also write every photo there, for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --release --example mrz_eval -- "$@"

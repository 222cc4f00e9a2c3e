#!/bin/sh
# Signed writes, before and after, alternating in one run:
#   bench/signed_compare.sh BEFORE_DIR [N] [ROUNDS]
# BEFORE_DIR: a worktree of the commit before signed writes with its own .venv
# (git worktree add ../presign c64f783 && make -C ../presign install).
# Results: bench/signed-<side>-<round>.json; this checkout is "after".
set -e
before=$(cd "$1" && pwd)
after=$(cd "$(dirname "$0")/.." && pwd)
n=${2:-100000}
rounds=${3:-2}
script="$after/bench/signed_sync.py"
round=1
while [ "$round" -le "$rounds" ]; do
  for side in before after; do
    dir=$before
    [ "$side" = after ] && dir=$after
    (cd "$dir" && PYTHONPATH="$dir/bench" .venv/bin/python "$script" "$n" \
      --json "$after/bench/signed-$side-$round.json")
  done
  round=$((round + 1))
done

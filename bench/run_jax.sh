#!/usr/bin/env bash
# JAX (CPU, jit) benchmarks: makes bench/.venv from requirements.txt (pinned)
# if needed, then runs bench/jax_bench.py at 1 thread and at all CPUs.
# Extra arguments go to jax_bench.py (e.g. --steps 5 --warmup 2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"
if ! "$venv/bin/python" -c 'import jax' 2>/dev/null || ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
  echo "run_jax.sh: installing pinned JAX into $venv" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi
cpus="$(nproc)"
"$venv/bin/python" "$here/jax_bench.py" --threads 1 "$@"
if [ "$cpus" -gt 1 ]; then
  "$venv/bin/python" "$here/jax_bench.py" --threads "$cpus" "$@"
fi

#!/usr/bin/env bash
# Stop the cluster that slurm-up.sh started (only the daemons whose pid files it wrote) and
# delete /etc/slurm/slurm.conf: while that file exists with no slurmctld, every `snakemake`
# start costs ~10 s (the slurm executor plugin runs `scontrol show config` at import).
BASE=${SLURM_BASE:-/tmp/slurm-test}
MARK="# written by snakemake-majora tests/cluster/slurm-up.sh"

alive() {  # a zombie (state Z, left for a lazy init to reap) counts as stopped
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

pids=()
for f in "$BASE"/run/slurmd-*.pid "$BASE/run/slurmctld.pid" "$BASE/run/munged.pid"; do
  [ -s "$f" ] || continue
  pid=$(cat "$f"); rm -f "$f"
  alive "$pid" && kill "$pid" 2>/dev/null && pids+=("$pid")
done
for pid in "${pids[@]}"; do
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
done
if [ -e /etc/slurm/slurm.conf ] && grep -qF "$MARK" /etc/slurm/slurm.conf; then
  rm -f /etc/slurm/slurm.conf
fi
exit 0

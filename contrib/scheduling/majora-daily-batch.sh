#!/usr/bin/env bash
# The daily sequencing batch, for cron or a systemd timer (docs/scheduling.md):
#   1. one run at a time: flock(1) on a lock file; a second start exits 75 at once;
#   2. a credential health check that fails loudly (exit 77) when someone must log in again;
#   3. the example workflow for the PAGs published on one day (default: yesterday).
#
# Environment:
#   MAJORA_BATCH_WORKDIR   (required) the workflow's working directory (config/config.yaml, results/)
#   MAJORA_BATCH_SNAKEFILE workflow/Snakefile (default: the one next to this script's repository)
#   MAJORA_BATCH_DATE      YYYY-MM-DD to process (default: yesterday)
#   MAJORA_BATCH_QC_TEST   Majora QC test of the PAGs (default: cog-uk-elan-minimal-qc)
#   MAJORA_BATCH_LOCK      lock file (default: $MAJORA_BATCH_WORKDIR/.daily-batch.lock)
#   MAJORA_BATCH_ARGS      extra snakemake arguments, e.g. "--workflow-profile profiles/slurm"
#   SNAKEMAKE, SNAKEMAKE_MAJORA  the commands (default: snakemake, snakemake-majora on PATH)
set -euo pipefail

log() { echo "majora-daily-batch: $*" >&2; }

: "${MAJORA_BATCH_WORKDIR:?set MAJORA_BATCH_WORKDIR to the workflow working directory}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
snakefile=${MAJORA_BATCH_SNAKEFILE:-$here/../../workflow/Snakefile}
day=${MAJORA_BATCH_DATE:-$(date -d yesterday +%F)}
qc_test=${MAJORA_BATCH_QC_TEST:-cog-uk-elan-minimal-qc}
lock=${MAJORA_BATCH_LOCK:-$MAJORA_BATCH_WORKDIR/.daily-batch.lock}
smk=${SNAKEMAKE:-snakemake}
majora=${SNAKEMAKE_MAJORA:-snakemake-majora}

if ! date -d "$day" +%F >/dev/null 2>&1; then
  log "MAJORA_BATCH_DATE '$day' is not a date (use YYYY-MM-DD)"; exit 64
fi

# 1. No overlapping runs. The lock is held by this shell until it exits (snakemake gets the fd closed,
#    so no left-over child can keep the lock).
exec 9>>"$lock"
if ! flock -n 9; then
  log "another batch run still holds $lock; not starting a second one (exit 75: try again later)"
  exit 75
fi

# 2. Health check: the shared token must stay valid for an hour; it is refreshed (under the shared
#    token lock) only if it would not. The token itself goes to /dev/null.
rc=0
"$majora" token --min-ttl 3600 >/dev/null 9>&- || rc=$?
if [ "$rc" -ne 0 ]; then
  "$majora" status >&2 9>&- || true
  if [ "$rc" -eq 77 ]; then
    log "MAJORA RE-LOGIN NEEDED: the stored credential can no longer be refreshed."
    log "As $(id -un) on $(hostname -s), run: snakemake-majora login   (then re-run this batch)"
  else
    log "Majora credential check failed (exit $rc); nothing was run. See the message above."
  fi
  exit "$rc"
fi

# 3. The batch: PAGs published on $day (Majora's published_after/before are exclusive).
cd "$MAJORA_BATCH_WORKDIR"
mkdir -p config/daily
overlay=config/daily/$day.yaml
cat > "$overlay.tmp" <<YAML
# written by majora-daily-batch.sh; overrides config/config.yaml for the batch of $day
batch:
  name: daily-$day
  run_name: null
  samples: null
  pag:
    test_name: $qc_test
    published_after: "$(date -d "$day - 1 day" +%F)"
    published_before: "$(date -d "$day + 1 day" +%F)"
results: results/$day
YAML
mv "$overlay.tmp" "$overlay"
log "processing the PAGs of $day ($qc_test) in $MAJORA_BATCH_WORKDIR"
# shellcheck disable=SC2086  # MAJORA_BATCH_ARGS is a list of arguments
"$smk" --snakefile "$snakefile" --configfile "$overlay" ${MAJORA_BATCH_ARGS:-} 9>&-

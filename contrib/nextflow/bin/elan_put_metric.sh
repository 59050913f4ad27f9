#!/usr/bin/env bash
# Attach a consensus genome's metrics (TSV: namespace, name, value) to the registered file by its path.
# usage: elan_put_metric.sh ABSOLUTE_FASTA METRICS_TSV
set -euo pipefail
fasta=$1 metrics=$2
OCARINA=${OCARINA:-snakemake-majora ocarina --oauth --angry --no-banner -q}
args=()
while IFS=$'\t' read -r namespace name value; do
    args+=(-m "$namespace" "$name" "$value")
done < "$metrics"
$OCARINA put metric --artifact-path "$fasta" "${args[@]}"

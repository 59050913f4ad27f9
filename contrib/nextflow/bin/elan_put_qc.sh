#!/usr/bin/env bash
# Evaluate Majora's QC test on one sample's publish group (Majora applies its loaded QC rules).
# usage: elan_put_qc.sh CENTRAL_SAMPLE_ID SITE TEST_NAME TEST_VERSION RUN_NAME
set -euo pipefail
sample=$1 site=$2 test_name=$3 test_version=$4 run=$5
OCARINA=${OCARINA:-snakemake-majora ocarina --oauth --angry --no-banner -q}
$OCARINA put qc --publish-group "COGUK/$sample/$site:$run" --test-name "$test_name" --test-version "$test_version"

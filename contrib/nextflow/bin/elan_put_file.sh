#!/usr/bin/env bash
# Register one consensus genome: the file on the node, made from and bridged to its biosample, into its
# publish group, tagged with the sequencing platform (Majora's QC tests pick their version by it).
# The publish group is named after the sample's sequencing run, which must already be registered: Majora
# finds a PAG's run by the name after the colon, and its PAG listing fails while that run is unknown.
# usage: elan_put_file.sh CENTRAL_SAMPLE_ID ABSOLUTE_FASTA SITE NODE PIPELINE_VERSION PLATFORM RUN_NAME
set -euo pipefail
sample=$1 fasta=$2 site=$3 node=$4 version=$5 platform=$6 run=$7
OCARINA=${OCARINA:-snakemake-majora ocarina --oauth --angry --no-banner -q}
$OCARINA put file --full-path --path "$fasta" --type consensus --i-have-bad-files --node "$node" \
    --source-artifact "$sample" --bridge-artifact "$sample" --publish-group "COGUK/$sample/$site:$run" \
    --pipeline elan consensus elan "$version" -m sequencing platform "$platform"

#!/usr/bin/env bash
# Register one consensus genome: the file on the node, bridged to its biosample, into its publish group.
# usage: elan_put_file.sh CENTRAL_SAMPLE_ID ABSOLUTE_FASTA SITE NODE PIPELINE_VERSION
set -euo pipefail
sample=$1 fasta=$2 site=$3 node=$4 version=$5
OCARINA=${OCARINA:-snakemake-majora ocarina --oauth --angry --no-banner -q}
$OCARINA put file --full-path --path "$fasta" --type consensus --i-have-bad-files --node "$node" \
    --bridge-artifact "$sample" --publish-group "COGUK/$sample/$site:ELAN" \
    --pipeline elan consensus elan "$version"

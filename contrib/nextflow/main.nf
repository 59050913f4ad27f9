#!/usr/bin/env nextflow
// Majora from Nextflow with snakemake-majora's CLI: every task shares the one OAuth credential
// (the same locked token file the Snakemake plugin uses), so hundreds of parallel tasks refresh the
// token only when it is due and never race for it. See docs/further.md ("Nextflow").
//
//   nextflow run contrib/nextflow/main.nf --samples BIRM-00001,CAMB-00002
//
// Needs `snakemake-majora` on PATH in the task environment and a prior `snakemake-majora login`
// (token directory on a file system all nodes share; see docs/cluster.md).
nextflow.enable.dsl = 2

params.samples = 'BIRM-00001,CAMB-00002'
params.majora_cache = "${launchDir}/majora-cache"   // records already fetched are not fetched again
params.min_ttl = 600                                // seconds the token must still be valid per task

process FETCH_BIOSAMPLE {
    tag "${id}"
    storeDir "${params.majora_cache}/biosample"
    maxForks 8
    // Before the task: make sure the shared token is valid for min_ttl seconds (refreshing it under the
    // shared lock if needed) and fail the task at once, exit code 77, if a new login is needed.
    // The token itself goes to /dev/null: it never appears in .command.log or the task's work dir.
    beforeScript "snakemake-majora token --min-ttl ${params.min_ttl} > /dev/null"

    input:
    val id

    output:
    path "${id}.json"

    script:
    """
    fetch_biosample.sh ${id}
    """
}

process SUMMARISE {
    publishDir "${launchDir}/results", mode: 'copy'

    input:
    path records

    output:
    path 'biosamples.tsv'

    script:
    """
    summarise_biosamples.py ${records} > biosamples.tsv
    """
}

workflow {
    ids = Channel.of(params.samples.tokenize(',')).flatten()
    SUMMARISE(FETCH_BIOSAMPLE(ids).collect())
}

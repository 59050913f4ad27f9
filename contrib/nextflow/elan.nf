#!/usr/bin/env nextflow
// An Elan-style registration step with Ocarina's command line on the shared credential: every consensus
// genome is registered (`put file`), given its metrics (`put metric --artifact-path`) and QC'd (`put qc`)
// by its own parallel tasks, exactly as Elan's processes call `ocarina`, with `ocarina` replaced by
// `snakemake-majora ocarina`. Every task reads the one locked token file; only one refreshes it.
//
//   nextflow run contrib/nextflow/elan.nf --consensus 'consensus/*.fa' --pipeline_version 1.0.0
//
// Needs `snakemake-majora` on PATH in the task environment and a prior `snakemake-majora login` (or
// `snakemake-majora login --import-ocarina`), with the token directory on a file system all nodes share.
// Each consensus file is named <central_sample_id>.fa; its metrics come from <central_sample_id>.metrics.tsv
// next to it (columns: namespace, name, value), as Elan's own pipeline writes them.
nextflow.enable.dsl = 2

params.consensus = 'consensus/*.fa'
params.node = 'climb'
params.pipeline_version = '1.0.0'
params.qc_test = 'cog-uk-elan-minimal-qc'
params.qc_version = 1
params.site = 'HOOT'
params.platform = 'OXFORD_NANOPORE'   // ILLUMINA, ION_TORRENT: selects the QC test version
params.run = 'ELAN-RUN-0001'   // the sequencing run (already registered, put sequencing): PAG COGUK/<sample>/<site>:<run>


process PUT_FILE {
    tag "${sample}"
    maxForks 16
    // `snakemake-majora ocarina` exits as Ocarina does: 77 auth, 69 server, 75 try later; Nextflow retries 75.
    errorStrategy { task.exitStatus == 75 ? 'retry' : 'terminate' }
    maxRetries 3

    input:
    tuple val(sample), path(fasta), path(metrics)

    output:
    tuple val(sample), val(fasta_path), path(metrics)

    script:
    fasta_path = fasta.toRealPath().toString()
    """
    elan_put_file.sh ${sample} ${fasta_path} ${params.site} ${params.node} ${params.pipeline_version} ${params.platform} ${params.run}
    """
}

process PUT_METRIC {
    tag "${sample}"
    maxForks 16
    errorStrategy { task.exitStatus == 75 ? 'retry' : 'terminate' }
    maxRetries 3

    input:
    tuple val(sample), val(fasta_path), path(metrics)

    output:
    val(sample)

    script:
    """
    elan_put_metric.sh ${fasta_path} ${metrics}
    """
}

process PUT_QC {
    tag "${sample}"
    maxForks 16
    errorStrategy { task.exitStatus == 75 ? 'retry' : 'terminate' }
    maxRetries 3

    input:
    val(sample)

    script:
    """
    elan_put_qc.sh ${sample} ${params.site} ${params.qc_test} ${params.qc_version} ${params.run}
    """
}

workflow {
    samples = Channel.fromPath(params.consensus).map { f ->
        tuple(f.baseName, f, file("${f.parent}/${f.baseName}.metrics.tsv"))
    }
    PUT_QC(PUT_METRIC(PUT_FILE(samples)))
}

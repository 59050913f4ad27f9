# Per-sample steps: validate the Majora record, push the lab's QC metrics back to Majora.


rule validate:
    input:
        record=storage.majora("majora://biosample/{sample}"),
    output:
        f"{RESULTS}/verdicts/{{sample}}.json",
    log:
        f"{RESULTS}/logs/validate/{{sample}}.log",
    conda:
        "../envs/majora.yaml"
    script:
        "../scripts/validate.py"


rule push_metrics:
    input:
        qc=lambda wc: lab_qc_file(wc.sample),
    output:
        f"{RESULTS}/pushed/{{sample}}.json",
    log:
        f"{RESULTS}/logs/push_metrics/{{sample}}.log",
    conda:
        "../envs/majora.yaml"
    params:
        artifact=lambda wc: PUSH["artifact"].format(sample=wc.sample),
        artifact_path=lambda wc: consensus_path(wc.sample),
        profile=MAJORA["profile"],
    script:
        "../scripts/push_metrics.py"


rule manifest:
    input:
        samples=f"{RESULTS}/batch/samples.tsv",
        verdicts=verdict_files,
        pushed=pushed_files,
        qc=lab_qc_files,
    output:
        f"{RESULTS}/manifest.tsv",
    log:
        f"{RESULTS}/logs/manifest.log",
    localrule: True
    conda:
        "../envs/majora.yaml"
    params:
        batch=BATCH["name"],
        min_coverage=LAB_QC["min_pct_covered_bases"],
        min_longest_run=LAB_QC["min_longest_no_N_run"],
    script:
        "../scripts/manifest.py"

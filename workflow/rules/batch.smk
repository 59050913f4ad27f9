# Resolve the batch (a run, a PAG query, a sample sheet or a list of IDs) into its samples.


checkpoint resolve_batch:
    input:
        unpack(batch_input),
    output:
        samples=f"{RESULTS}/batch/samples.tsv",
    log:
        f"{RESULTS}/logs/resolve_batch.log",
    localrule: True
    conda:
        "../envs/majora.yaml"
    params:
        mode=MODE,
        samples=BATCH_IDS,
        profile=MAJORA["profile"],
    script:
        "../scripts/resolve_batch.py"

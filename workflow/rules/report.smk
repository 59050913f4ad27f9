# Plots for the Snakemake report (snakemake --report report.html).


rule plots:
    input:
        manifest=f"{RESULTS}/manifest.tsv",
    output:
        regions=report(
            f"{RESULTS}/plots/samples_per_region_week.png",
            caption="../report/regions.rst",
            category="Batch",
        ),
        qc=report(
            f"{RESULTS}/plots/qc_pass_fail.png",
            caption="../report/qc.rst",
            category="Batch",
        ),
    log:
        f"{RESULTS}/logs/plots.log",
    localrule: True
    conda:
        "../envs/majora.yaml"
    params:
        batch=BATCH["name"],
        min_coverage=LAB_QC["min_pct_covered_bases"],
    script:
        "../scripts/plots.py"

"""The Dagster side of pifu. Importing the package imports no Dagster: `pifu run` resolves its paths and
takes its run locks (pipelines.instance) and starts planning before Dagster's ~0.5 s import."""

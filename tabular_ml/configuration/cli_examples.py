"""The pipelines and examples `python run.py --help` ends with (click's epilog; \b keeps line breaks)."""

EXAMPLES = """
\b
Pipelines (chosen by the config file's name, or --pipeline):
  training     ingest -> clean -> validate -> split -> search -> evaluate -> register
  deployment   promote the newest undecided version if it beats production -> serve production
  rollback     put the previous (or --to-version) version back -> serve it
  serve        serve production as it is (after a crash or a reboot; no promotion)
  monitoring   current data vs the production version's reference: quality, drift, performance;
               exit 3 when a threshold is crossed (on_drift: retrain -> training + deployment)
  inference    batch scoring: the production version scores new rows chunk by chunk into a sink
\b
Examples:
  python run.py --config configs/training.yaml
  python run.py --config configs/training.yaml parameters.split.test_size=0.3 --dry-run
  python run.py --config configs/training.yaml parameters.search.strategy=random parameters.search.n_iter=5
  python run.py --config configs/training.yaml --check-data   # read, clean and check the data; no pipeline
  python run.py draft-config --input data/examples/wine.csv --target cultivar \
      --output configs/training_wine.yaml                       # a training config drafted from a table
  python run.py --config configs/deployment.yaml
  python run.py predict --input data/raw/telco_churn.csv --output predictions.csv
  python run.py rollback --to-version 2
  python run.py serve              # bring production back up after a crash
  python run.py --config configs/monitoring.yaml   # exit 3 on drift
  python run.py --config configs/inference.yaml    # batch scoring with the production version
  python run.py models             # ZenML stages and MLflow aliases side by side
  python run.py stack local        # register and activate the local stack
"""

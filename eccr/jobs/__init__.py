"""The jobs a user runs, on top of the library: train.py (`eccr train`'s stages), evaluate.py (`eccr evaluate`),
explain.py (`eccr explain`, the resumable batch job) and distill.py (`eccr distill`). Jobs may import any layer;
no library module imports a job (tests/jobs/test_layers.py). The CLI (eccr/cli.py) sits above them."""

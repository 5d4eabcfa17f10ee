"""Job functions and helpers the worker tests run, importable by worker subprocesses."""

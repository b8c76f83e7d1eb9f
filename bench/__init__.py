"""Benchmarks: each script prints figures and ratios measured side by side in one run.

The top of the import layering: a benchmark may drive any package; no package imports one.
"""

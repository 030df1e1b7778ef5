"""Benchmarks that print side-by-side ratios; run them as modules, never under pytest."""

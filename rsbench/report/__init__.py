"""Benchmark reports: tables, figures and the HTML/Markdown documents built from a run's results."""

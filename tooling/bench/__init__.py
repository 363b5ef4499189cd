"""The benchmark: the five functions against a hand-written minimal handler, side by side.

`events` builds the signed callbacks, `child` is what runs (and is timed) in each fresh
interpreter, `runner` holds the stand-ins and drives the children, `figures` turns the results
into ratios, budgets and tables, `hotloop` isolates the pipeline's own CPU. Method and the
published figures: docs/PERFORMANCE.md. Kept import-free: every measured child imports it.
"""

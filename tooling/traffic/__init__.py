"""CSS live traffic: a reproducible plan of realistic callbacks, an HTTP sender, a run's report.

`plan` builds the unique callbacks N streams cause and the order CSS would deliver them in
(retries, disorder); `send` delivers them signed, concurrently and rate-limited; `report`
summarises a run for a person or a machine. Used by scripts/simulate.py, the local stack's demo
and the volume tests.
"""

"""Development stand-ins: COS (moto's S3 app), the TDMQ topic, fault injection, local gateway.

Used by both the local stack (`scripts/`) and the tests, so there is one implementation of
each stand-in. Never part of the SCF code package.
"""

"""Shared pipeline of the live-callback functions.

Everything the five SCF functions have in common lives here: the trigger adapter, signature
check, event models, COS store, topic publisher, configuration and the pipeline that ties them.
"""

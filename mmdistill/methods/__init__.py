"""Method families: each declares its configuration keys once and builds its matcher from a run's context.

``gradient`` (DC, DSA, GCond's matching), ``distribution`` (DM), ``trajectory`` (MTT, TESLA and the
image-text bi-trajectory / LoRS variants).
"""

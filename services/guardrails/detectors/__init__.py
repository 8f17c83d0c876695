"""Detectors: each is a function of text returning findings, with no I/O."""

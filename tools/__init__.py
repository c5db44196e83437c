"""Instructor and CI commands (generate student labs, execute solutions, grade).

A package so tests can import them (``from tools import generate``); each is also run as a
script: ``python tools/generate.py``.
"""

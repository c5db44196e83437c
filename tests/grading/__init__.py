"""Helpers that build adversarial submissions for tests/test_grade.py."""

"""Serving Patterns Lab."""

"""The teaching material the notebooks use: exercises and their checks, the rubric, queueing
simulations, and demonstrations (schema evolution and rollout, unsafe deserialisation,
training/serving skew, an API-key gateway, the demo). Standard library at import.
"""

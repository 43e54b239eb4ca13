"""What a test of the framework, or of a backend or executor built on it, needs.

:mod:`framework.testing.conformance` is the storage conformance kit (harnesses, their
registry and the pytest fixtures); :mod:`framework.testing.spec` is the storage contract's
spec, run against every registered harness. Both need pytest.
"""

__all__: list[str] = []

"""The storage contract's spec: every promise of :class:`~framework.storage.backend.StorageBackend`
as a test, run once per registered harness through the async API the executors call.

A third-party backend proves itself by registering a harness (see
:mod:`framework.testing.conformance`) in a module of its own and running::

    pytest -p framework.testing.conformance -p my_harness_module --pyargs framework.testing.spec

Add ``-k mine`` to run only its harness. Tests that are about one shipped backend's files
or tables live with that backend's tests, not here. Needs pytest, pytest-asyncio and anyio.
"""

__all__: list[str] = []

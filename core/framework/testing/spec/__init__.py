"""The storage contract's spec: every promise of :class:`~framework.storage.backend.StorageBackend`
as a test, run once per registered harness through the async API the executors call.

A third-party backend proves itself by registering a harness (see
:mod:`framework.testing.conformance`) in a module of its own and running::

    pytest -o asyncio_mode=auto -p framework.testing.conformance -p my_harness_module \
        --pyargs framework.testing.spec

Add ``-k mine`` to run only its harness. Tests that are about one shipped backend's files
or tables live with that backend's tests, not here. The spec's tests are coroutines, so it
needs pytest-asyncio in auto mode (the ``-o``), pytest and anyio.
"""

__all__: list[str] = []

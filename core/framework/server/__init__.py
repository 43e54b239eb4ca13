"""The HTTP API and web dashboard of ``agentgraph serve`` (the optional ``server`` extra).

:func:`create_app` builds the ASGI application for one storage: a JSON API that answers
what the view commands answer, in the same shapes (:mod:`framework.cli.shapes`), steers
runs as the steering commands do, streams a run's progress as server-sent events read from
storage, and serves a page that shows and steers runs. Importing this package imports
FastAPI; ``import framework`` never does.
"""

from framework.server.app import ServerConfig, create_app
from framework.server.auth import Auth

__all__ = ["Auth", "ServerConfig", "create_app"]

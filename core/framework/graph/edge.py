"""Edges and the graph they join, where the first release kept both (``from
framework.graph.edge import EdgeSpec, GraphSpec`` keeps working).

:class:`EdgeSpec` and :class:`EdgeCondition` are defined in :mod:`._edges`,
:class:`GraphSpec` in :mod:`.spec`.
"""

from framework.graph._edges import EdgeCondition, EdgeSpec
from framework.graph.spec import GraphSpec

__all__ = ["EdgeCondition", "EdgeSpec", "GraphSpec"]

"""The seed's path of the checkpoint manager, which lives in :mod:`framework.durable.manager`."""

from framework.durable.manager import CheckpointManager, CheckpointSaveWarning

__all__ = ["CheckpointManager", "CheckpointSaveWarning"]

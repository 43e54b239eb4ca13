"""Item ids and content hashes of a batch's submission."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from framework.errors import InvalidArgumentError
from framework.schemas.item import NewItem
from framework.storage import codec

__all__ = ["new_item"]


def new_item(value: Any, id_key: str | None, position: int) -> NewItem:
    """The ledger's view of the ``position``-th submitted ``value``: its id (``value[id_key]``,
    or its content hash) and the hash of its content (its codec encoding)."""
    where = f"item {position} of the submission"
    digest = hashlib.sha256(codec.dumps(value, where)).hexdigest()
    if id_key is None:
        return NewItem(item_id=f"sha256-{digest[:32]}", input=value, content_hash=digest)
    if not isinstance(value, Mapping) or id_key not in value:
        raise InvalidArgumentError(
            f"{where} has no {id_key!r} field to take its id from (id_key={id_key!r}); give "
            "every item that field, or leave id_key unset to name items by their content"
        )
    item_id = value[id_key]
    if not isinstance(item_id, str | int) or isinstance(item_id, bool):
        raise InvalidArgumentError(
            f"{where} has {id_key}={item_id!r}; an item id is a string or an int"
        )
    return NewItem(item_id=str(item_id), input=value, content_hash=digest)

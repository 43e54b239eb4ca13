"""Item ids and content hashes of a batch's submission."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from framework.errors import InvalidArgumentError
from framework.schemas.ids import ID_MAX_LENGTH, validate_run_id
from framework.schemas.item import NewItem
from framework.storage import codec

__all__ = ["child_run_id", "new_item"]


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


def child_run_id(batch_run_id: str, item_id: str) -> str:
    """The run id of item ``item_id``'s graph run in batch ``batch_run_id``: the two joined,
    or the item id's hash when that would be too long or not a valid id."""
    joined = f"{batch_run_id}--{item_id}"
    try:
        if len(joined) <= ID_MAX_LENGTH:
            return validate_run_id(joined)
    except ValueError:
        pass
    digest = hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:24]
    return validate_run_id(f"{batch_run_id[: ID_MAX_LENGTH - 27]}--{digest}")

"""The checkpoint codec: Python values to canonical JSON and back, exactly; JSON and nothing else.

``encode`` turns a value into a JSON tree (dicts with str keys, lists, str, int, float,
bool, None). Plain JSON stays plain, so a dict with str keys and no :data:`TAG_KEY` in it is
always a plain dict and generic code (deltas, diffs) can walk encoded trees. Every other
supported value becomes a dict tagged with :data:`TAG_KEY`:

=============================  ===========================================================
value                          encoded as
=============================  ===========================================================
datetime / date / time         ISO text; ``ZoneInfo`` zones and custom ``timezone`` names
                               and ``fold`` kept
timedelta                      ``[days, seconds, microseconds]``
bytes / bytearray              base64
set / frozenset                items sorted by their canonical bytes (so order never leaks)
tuple                          items
Enum                           registered class name + encoded value
Decimal / UUID                 their exact text
PurePosixPath, PosixPath, ...  concrete class name + text
NaN, inf, -inf                 their name (JSON has no literal for them)
int of more than 640 digits    lowercase hexadecimal (a process may limit decimal text
                               to 640 digits: ``sys.set_int_max_str_digits``)
dict with a non-str key, or    ``[key, value]`` pairs sorted by the key's canonical bytes
with the key ``__ag__``
pydantic model / dataclass     registered class name + fields, each encoded in turn
=============================  ===========================================================

Types are matched exactly: a subclass of a builtin (``OrderedDict``, a ``datetime``
subclass, a ``namedtuple``) is refused rather than revived as its base, because a checkpoint
must come back exactly or not at all. Models, dataclasses and enums are revived only from
the registry filled by :func:`register_type`; decoding never imports anything. ``dumps``
sorts dict keys, so a value's bytes do not depend on insertion order (and revived plain
dicts come back in key order; they compare equal).

A value may take at most :data:`MAX_DEPTH` levels of JSON containers; ``encode`` refuses a
deeper one at save time naming its key path, so everything that saves also loads (see
``_limits``).

Encoding lives in ``_encode``, decoding in ``_decode`` and the registry of revivable types
in ``_registry``; this package is their public face.
"""

from framework.storage.codec._decode import decode
from framework.storage.codec._encode import (
    JSONish,
    canonical_bytes,
    checksum,
    dumps,
    encode,
    loads,
)
from framework.storage.codec._limits import MAX_DEPTH
from framework.storage.codec._registry import TAG_KEY, register_type, registered_name

__all__ = [
    "MAX_DEPTH",
    "TAG_KEY",
    "JSONish",
    "canonical_bytes",
    "checksum",
    "decode",
    "dumps",
    "encode",
    "loads",
    "register_type",
    "registered_name",
]

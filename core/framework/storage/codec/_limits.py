"""What the codec saves is what it can load: the limits both sides share, in one place.

**Depth.** A value may take at most :data:`MAX_DEPTH` levels of JSON containers once
encoded (a list or a dict takes one, a tuple, set, model or dataclass two, a dict with a
non-str key three). The encoder refuses anything deeper at save time, naming the key path;
the decoder reads anything the encoder wrote with ``2 * MAX_DEPTH`` Python frames, well
inside the default recursion limit even when it is called from deep in a program.

**Integers.** Python converts an int to or from decimal text only up to
``sys.get_int_max_str_digits()`` digits, which a process may lower to 640. Ints of more than
:data:`MAX_INT_DIGITS` digits are therefore stored as hexadecimal text, which has no limit.
"""

from __future__ import annotations

MAX_DEPTH = 128

MAX_INT_DIGITS = 640

# Ints strictly between -INT_TEXT_BOUND and INT_TEXT_BOUND have at most MAX_INT_DIGITS digits.
INT_TEXT_BOUND = 10**MAX_INT_DIGITS

TOO_DEEP = f"nested too deeply: more than {MAX_DEPTH} levels"

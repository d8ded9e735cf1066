"""A plain-text editing buffer with undo."""

from editbuf.buffer import Buffer
from editbuf.edits import Edit
from editbuf.errors import EditError, NothingToUndo

__all__ = ["Buffer", "Edit", "EditError", "NothingToUndo"]
__version__ = "0.3.0"

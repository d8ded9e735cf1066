"""Read delimited text tables and print them as aligned columns."""

from tabread.reader import TableError, read_table
from tabread.table import Table

__all__ = ["Table", "TableError", "read_table"]
__version__ = "1.0.2"

"""Five-field cron expressions: parse, match and find the next run."""

from cronlite.errors import CronError
from cronlite.expr import CronExpr, parse
from cronlite.fields import FIELDS, FieldSpec

__all__ = ["FIELDS", "CronError", "CronExpr", "FieldSpec", "parse"]
__version__ = "0.4.1"

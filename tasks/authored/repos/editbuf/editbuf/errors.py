class EditError(ValueError):
    """An edit or a history operation that cannot be carried out."""


class NothingToUndo(EditError):
    """undo() was called with an empty undo stack."""

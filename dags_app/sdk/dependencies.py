"""``>>`` and ``<<`` for everything dependencies can be set on: tasks, task groups, XComArgs.

As Airflow's ``DependencyMixin``: a class provides ``set_upstream`` and ``set_downstream``, and
the operators follow. ``a >> b`` returns ``b`` so chains read left to right, and ``[a, b] >> c``
reaches ``c.__rrshift__``.
"""

from __future__ import annotations

from typing import Any


class DependencyMixin:
    def set_upstream(self, other: Any) -> None:
        raise NotImplementedError

    def set_downstream(self, other: Any) -> None:
        raise NotImplementedError

    # An EdgeModifier (``Label``) stands between two sides of a chain: it links them itself.
    is_edge_modifier = False

    def __rshift__(self, other: Any) -> Any:
        """``self >> other``: other runs after self."""
        if getattr(other, "is_edge_modifier", False):
            other.set_upstream(self)
        else:
            self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        """``self << other``: other runs before self."""
        if getattr(other, "is_edge_modifier", False):
            other.set_downstream(self)
        else:
            self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Any:
        """``[a, b] >> self``."""
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Any:
        """``[a, b] << self``."""
        self.set_downstream(other)
        return self

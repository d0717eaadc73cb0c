"""Role checks for views: who may read and who may act.

Every page needs the Viewer's read permission; every state change needs the permission of the
action (see ``roles.py``). A missing permission raises ``PermissionDenied``, which Django renders
as the 403 page (``templates/403.html``).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

READ = "dags_app.view_dagmodel"
TRIGGER = "dags_app.trigger_dag"
PAUSE = "dags_app.pause_dag"
DELETE = "dags_app.delete_dagmodel"
CLEAR = "runs_app.clear_taskinstance"
MARK = "runs_app.mark_taskinstance"

ACTION_PERMISSIONS = {"trigger": TRIGGER, "pause": PAUSE, "delete": DELETE, "clear": CLEAR, "mark": MARK}


def require(request: HttpRequest, permission: str) -> None:
    """Raise PermissionDenied (403) unless the user holds ``permission``."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your role does not allow this ({permission.split('.', 1)[1].replace('_', ' ')}).")


def can(request: HttpRequest) -> dict[str, bool]:
    """Return which actions the user may take, for templates to show or hide buttons."""
    user = request.user
    return {name: user.has_perm(perm) for name, perm in ACTION_PERMISSIONS.items()}

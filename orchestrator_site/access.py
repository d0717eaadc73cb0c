"""Role checks for views, the admin and the services' callers: who may read and who may act.

Two layers, both required:

1. **The role** (``roles.py``): every page needs the Viewer's read permission; every state change
   needs the permission of the action. A missing permission raises ``PermissionDenied``, which
   Django renders as the 403 page (``templates/403.html``).
2. **The DAG's ``access_control``** (Airflow's per-DAG permissions, normalized by
   ``dags_app.sdk.access_control``): a DAG that names roles is visible only to users in one of
   them, and each action needs the matching permission there (trigger: ``can_trigger``; pause,
   clear, mark: ``can_edit``; delete: ``can_delete``). A DAG without it is open to every role.
   Superusers and the Admin role see and act on every DAG. A DAG a user may not read does not
   exist for them: its pages are 404s, and lists (``readable``) leave it and its runs out.

Unlike Airflow, where the built-in roles hold every-DAG permissions and ``access_control`` only
adds to custom roles, naming roles here *restricts* the DAG to them: teams keep a base role
(Viewer, User, Op) for what they may do and a team role (``roles create``) for which DAGs.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from orchestrator_site.roles import ADMIN

READ = "dags_app.view_dagmodel"
TRIGGER = "dags_app.trigger_dag"
PAUSE = "dags_app.pause_dag"
DELETE = "dags_app.delete_dagmodel"
CLEAR = "runs_app.clear_taskinstance"
MARK = "runs_app.mark_taskinstance"

ACTION_PERMISSIONS = {"trigger": TRIGGER, "pause": PAUSE, "delete": DELETE, "clear": CLEAR, "mark": MARK}

# What each role permission needs in a DAG's access_control (see dags_app.sdk.access_control).
DAG_PERMISSIONS = {
    READ: "can_read",
    TRIGGER: "can_trigger",
    PAUSE: "can_edit",
    CLEAR: "can_edit",
    MARK: "can_edit",
    DELETE: "can_delete",
    "runs_app.change_dagrun": "can_edit",
    "runs_app.change_taskinstance": "can_edit",
    "runs_app.delete_dagrun": "can_delete",
}


def _label(permission: str) -> str:
    return permission.split(".", 1)[1].replace("_", " ")


def user_roles(user: Any) -> frozenset[str]:
    """Return the names of ``user``'s roles (groups), read once per user object."""
    roles = getattr(user, "_orchestrator_roles", None)
    if roles is None:
        roles = frozenset(user.groups.values_list("name", flat=True)) if user.is_authenticated else frozenset()
        user._orchestrator_roles = roles
    return roles


def sees_every_dag(user: Any) -> bool:
    return bool(user.is_active and user.is_superuser) or ADMIN in user_roles(user)


def dag_allows(user: Any, dag: Any, permission: str = READ) -> bool:
    """True if ``dag``'s access_control lets ``user`` use ``permission`` (the role check is separate)."""
    acl = dag.access_control
    if not acl or sees_every_dag(user):
        return True
    needed = DAG_PERMISSIONS.get(permission, "can_read")
    return any(needed in acl.get(role, ()) for role in user_roles(user))


def readable(user: Any, queryset: QuerySet, dag_path: str = "") -> QuerySet:
    """Filter ``queryset`` to the rows of DAGs ``user`` may read; ``dag_path`` leads to the DagModel.

    One condition in the same query: open DAGs, or DAGs whose access_control names a user's role.
    """
    if sees_every_dag(user):
        return queryset
    field = f"{dag_path}__access_control" if dag_path else "access_control"
    condition = Q(**{f"{field}__isnull": True})
    roles = sorted(user_roles(user))
    if roles:
        condition |= Q(**{f"{field}__has_any_keys": roles})
    return queryset.filter(condition)


def hidden_dags(user: Any, queryset: QuerySet) -> QuerySet:
    """Filter a DagModel ``queryset`` to the DAGs ``user`` may *not* read (for rows that keep ids as text)."""
    if sees_every_dag(user):
        return queryset.none()
    return queryset.exclude(pk__in=readable(user, queryset.model.objects.all()).values("pk"))


def actionable(user: Any, queryset: QuerySet, permission: str, dag_path: str = "") -> QuerySet:
    """Filter ``queryset`` to rows whose DAG's access_control gives ``user`` ``permission``.

    For bulk actions (the admin's): one query reads the DAGs of the selected rows.
    """
    if sees_every_dag(user):
        return queryset
    from dags_app.models import DagModel

    pk = f"{dag_path}__pk" if dag_path else "pk"
    dags = DagModel.objects.filter(pk__in=queryset.values(pk)).only("pk", "dag_id", "access_control")
    return queryset.filter(**{f"{pk}__in": [dag.pk for dag in dags if dag_allows(user, dag, permission)]})


def without_hidden_files(user: Any, queryset: QuerySet, field: str = "filename") -> QuerySet:
    """Leave out rows about DAG files (import errors, parse records) that define a DAG hidden from ``user``."""
    if sees_every_dag(user):
        return queryset
    from dags_app.models import DagModel

    return queryset.exclude(**{f"{field}__in": hidden_dags(user, DagModel.objects.all()).values("fileloc")})


def require(request: HttpRequest, permission: str, dag: Any = None) -> None:
    """Raise PermissionDenied (403) unless the user holds ``permission`` (on ``dag``, if given)."""
    if not request.user.has_perm(permission):
        raise PermissionDenied(f"Your role does not allow this ({_label(permission)}).")
    if dag is not None and not dag_allows(request.user, dag, permission):
        raise PermissionDenied(
            f"The access control of DAG {dag.dag_id} does not allow your roles this ({_label(permission)})."
        )


def dag_can(user: Any, dag: Any) -> dict[str, bool]:
    """Return which actions ``user`` may take on ``dag``, for templates to show or hide buttons."""
    return {name: user.has_perm(perm) and dag_allows(user, dag, perm) for name, perm in ACTION_PERMISSIONS.items()}


def can(request: HttpRequest) -> dict[str, bool]:
    """Return which actions the user may take: on the page's DAG (``request.orchestrator_dag``), if any."""
    dag = getattr(request, "orchestrator_dag", None)
    if dag is not None:
        return dag_can(request.user, dag)
    user = request.user
    return {name: user.has_perm(perm) for name, perm in ACTION_PERMISSIONS.items()}


def get_dag(request: HttpRequest, dag_id: str) -> Any:
    """Return the DAG ``dag_id`` for a user who may read it, remembered for ``can``.

    403 without the role's read permission; 404 for an unknown DAG and for one hidden from the
    user by its access_control (the same page: a hidden DAG's existence is not told).
    """
    from dags_app.models import DagModel

    require(request, READ)
    dag = DagModel.objects.prefetch_related("tags").filter(dag_id=dag_id).first()
    if dag is None or not dag_allows(request.user, dag, READ):
        raise Http404(f"DAG {dag_id} does not exist")
    request.orchestrator_dag = dag
    return dag

"""The four roles (Django groups) and their permissions, kept in sync by ``migrate``.

- Viewer reads everything.
- User also triggers, clears, marks, pauses and deletes DAGs and runs.
- Op also manages pools, variables, connections and XComs; as in Airflow, Viewer and User do not see
  variables and connections, which hold secrets.
- Admin also manages users and groups.

Each role's permission set is rebuilt on every ``migrate`` (post_migrate), so a permission added
by hand to a role is removed again: the code is the single definition of the roles.
"""

from django.apps import AppConfig
from django.db.models.signals import post_migrate

ADMIN = "Admin"
OP = "Op"
USER = "User"
VIEWER = "Viewer"
ROLE_NAMES = (ADMIN, OP, USER, VIEWER)

# Models whose rows every role may read (app_label, model).
_READABLE = [
    ("dags_app", "dagmodel"),
    ("dags_app", "dagtag"),
    ("dags_app", "dagimporterror"),
    ("dags_app", "dagfile"),
    ("runs_app", "dagrun"),
    ("runs_app", "taskinstance"),
    ("runs_app", "taskinstancehistory"),
    ("runs_app", "xcom"),
    ("runs_app", "pool"),
    ("runs_app", "job"),
    ("runs_app", "auditlog"),
    ("dags_app", "assetmodel"),
    ("dags_app", "assetaliasmodel"),
    ("dags_app", "dagassetreference"),
    ("runs_app", "assetevent"),
    ("runs_app", "assetdagrunqueue"),
]

VIEWER_PERMISSIONS = {f"{app}.view_{model}" for app, model in _READABLE}
USER_PERMISSIONS = VIEWER_PERMISSIONS | {
    "dags_app.trigger_dag",
    "dags_app.pause_dag",
    "dags_app.delete_dagmodel",
    "runs_app.change_dagrun",
    "runs_app.delete_dagrun",
    "runs_app.clear_taskinstance",
    "runs_app.mark_taskinstance",
    "runs_app.change_taskinstance",
}
OP_PERMISSIONS = USER_PERMISSIONS | {
    "runs_app.add_pool",
    "runs_app.change_pool",
    "runs_app.delete_pool",
    "runs_app.view_variable",
    "runs_app.add_variable",
    "runs_app.change_variable",
    "runs_app.delete_variable",
    "runs_app.view_connection",
    "runs_app.add_connection",
    "runs_app.change_connection",
    "runs_app.delete_connection",
    "runs_app.add_xcom",
    "runs_app.change_xcom",
    "runs_app.delete_xcom",
}
ADMIN_PERMISSIONS = OP_PERMISSIONS | {
    f"auth.{action}_{model}" for action in ("add", "change", "delete", "view") for model in ("user", "group")
}

ROLE_PERMISSIONS = {
    VIEWER: VIEWER_PERMISSIONS,
    USER: USER_PERMISSIONS,
    OP: OP_PERMISSIONS,
    ADMIN: ADMIN_PERMISSIONS,
}


def sync_roles(*, using: str = "default") -> None:
    """Create the four role groups and set each one's permissions to exactly its set.

    Raises LookupError if a permission named here does not exist (a renamed model, a typo).
    """
    from django.contrib.auth.models import Group, Permission

    wanted = set().union(*ROLE_PERMISSIONS.values())
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using).select_related("content_type")
        if f"{p.content_type.app_label}.{p.codename}" in wanted
    }
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"Permissions named by the roles do not exist: {', '.join(sorted(missing))}")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([found[name] for name in names])


def _on_post_migrate(sender: AppConfig, using: str = "default", **kwargs) -> None:
    sync_roles(using=using)


def connect_post_migrate(app_config: AppConfig) -> None:
    """Sync roles after the last app's migrations (runs_app), once its permissions exist."""
    post_migrate.connect(_on_post_migrate, sender=app_config, dispatch_uid="orchestrator_sync_roles")

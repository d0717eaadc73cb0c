"""Jinja rendering of templated fields, configured as Airflow configures it.

Airflow renders with a sandboxed environment (templates cannot reach Python internals), strict
undefined variables (a typo in ``{{ ds }}`` fails the task instead of rendering an empty string)
and ``keep_trailing_newline``. A string field ending with one of the operator's ``template_ext``
(``.sh`` for BashOperator) names a template file, looked up in the DAG's folder and
``template_searchpath``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2
import jinja2.nativetypes
import jinja2.sandbox

from dags_app.sdk.xcom_arg import DagParam, MappedArgument, XComArg

# Values that stand for one known when the task runs: an upstream's XCom, a DAG param, a mapped
# task group's argument. In a templated field they resolve to that value, which is not rendered
# again (Airflow's ResolveMixin).
RESOLVABLE = (XComArg, DagParam, MappedArgument)


class _NativeSandboxedEnvironment(jinja2.sandbox.SandboxedEnvironment, jinja2.nativetypes.NativeEnvironment):
    """Render to native Python objects (``render_template_as_native_obj=True``), still sandboxed."""


def create_template_env(
    *,
    searchpath: Sequence[str] = (),
    native: bool = False,
    user_defined_macros: dict[str, Any] | None = None,
    user_defined_filters: dict[str, Any] | None = None,
    undefined: type[jinja2.Undefined] | None = None,
    environment_kwargs: dict[str, Any] | None = None,
) -> jinja2.Environment:
    """Return the Jinja environment a DAG's tasks are rendered with (``undefined`` and
    ``environment_kwargs``: the DAG's ``template_undefined`` and ``jinja_environment_kwargs``)."""
    env_class = _NativeSandboxedEnvironment if native else jinja2.sandbox.SandboxedEnvironment
    options = {"undefined": undefined or jinja2.StrictUndefined, "keep_trailing_newline": True, "cache_size": 0}
    options.update(environment_kwargs or {})
    env = env_class(loader=jinja2.FileSystemLoader(list(searchpath)), **options)
    env.globals.update(user_defined_macros or {})
    env.filters.update(user_defined_filters or {})
    env.filters.setdefault("ds", lambda value: value.strftime("%Y-%m-%d"))
    env.filters.setdefault("ds_nodash", lambda value: value.strftime("%Y%m%d"))
    env.filters.setdefault("ts", lambda value: value.isoformat())
    return env


def render_value(value: Any, context: dict[str, Any], env: jinja2.Environment, template_ext: Sequence[str] = ()) -> Any:
    """Return ``value`` rendered: strings through Jinja, containers member by member, and
    ``RESOLVABLE`` values resolved."""
    if isinstance(value, RESOLVABLE):
        return value.resolve(context)
    if isinstance(value, str):
        if template_ext and value.endswith(tuple(template_ext)):
            return env.get_template(value).render(**context)
        return env.from_string(value).render(**context)
    if isinstance(value, list):
        return [render_value(v, context, env, template_ext) for v in value]
    if isinstance(value, tuple):
        return tuple(render_value(v, context, env, template_ext) for v in value)
    if isinstance(value, dict):
        return {k: render_value(v, context, env, template_ext) for k, v in value.items()}
    return value

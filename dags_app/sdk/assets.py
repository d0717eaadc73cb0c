"""Assets (Airflow 3; ``Dataset`` in Airflow 2): data a task produces and DAGs are scheduled on.

A task's ``outlets`` name the assets it updates: each successful try records an *asset event*
per outlet. A DAG with ``schedule=asset`` (or a list, or ``a & b``, ``a | b`` conditions) gets an
asset-triggered run once the events it waits for have arrived. ``AssetAlias`` lets a task decide
at run time which asset it updated (``outlet_events[alias].add(Asset(...))``).

The task sees ``outlet_events`` (to give each event its ``extra``), ``inlet_events`` (the events
of its ``inlets``, oldest first) and, in an asset-triggered run, ``triggering_asset_events``.

The SDK never imports Django: ``runs_app.apps`` gives ``inlet_events`` its metastore reader
through ``configure``.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dags_app.sdk.exceptions import AirflowException
from dags_app.timetables import DagRunInfo, DataInterval, NullTimetable, TimeRestriction, Timetable

# (kind, name) -> the events, as dicts of AssetEventView fields, oldest first.
_read_events: Callable[[str, str], list[dict[str, Any]]] | None = None


def configure(*, read_events: Callable[[str, str], list[dict[str, Any]]]) -> None:
    """Give ``inlet_events`` its metastore (called by ``runs_app.apps``)."""
    global _read_events
    _read_events = read_events


class BaseAsset:
    """An asset condition: an asset, an alias, or an all/any combination of them."""

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(self, other)

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(self, other)

    def as_condition(self) -> dict[str, Any]:
        """The JSON form the scheduler evaluates."""
        raise NotImplementedError

    def iter_assets(self) -> Iterator[Asset]:
        return iter(())

    def iter_aliases(self) -> Iterator[AssetAlias]:
        return iter(())


class Asset(BaseAsset):
    """``Asset(name, uri, group=, extra=)``: a name or a URI is enough, the other defaults to it."""

    def __init__(
        self,
        name: str | None = None,
        uri: str | None = None,
        *,
        group: str = "asset",
        extra: dict[str, Any] | None = None,
        watchers: list | None = None,
    ) -> None:
        if name is None and uri is None:
            raise TypeError("Asset() needs a name or a uri")
        uri_given = uri is not None
        name = str(name if name is not None else uri)
        uri = str(uri if uri is not None else name)
        for label, value in (("name", name), ("uri", uri)):
            if not value or len(value) > 1500 or value.isspace():
                raise ValueError(f"Asset {label} must be 1 to 1500 characters, got {value!r}")
        if watchers:
            raise AirflowException(
                f"Asset {name!r}: watchers (event-driven scheduling from triggers) are not supported"
            )
        self.name, self.uri, self.group = name, uri, group or "asset"
        # Asset(name=...) refers to an asset defined elsewhere: it must not overwrite that one's URI.
        self.uri_given = uri_given
        self.extra = dict(extra or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Asset) and (self.name, self.uri) == (other.name, other.uri)

    def __hash__(self) -> int:
        return hash(("asset", self.name, self.uri))

    def __repr__(self) -> str:
        if self.name == self.uri:
            return f"Asset({self.uri!r})"
        return f"Asset(name={self.name!r}, uri={self.uri!r})"

    def as_condition(self) -> dict[str, Any]:
        return {"asset": self.name, "uri": self.uri}

    def iter_assets(self) -> Iterator[Asset]:
        yield self

    def as_ref(self) -> dict[str, Any]:
        ref = {"name": self.name, "uri": self.uri, "group": self.group, "extra": self.extra}
        if not self.uri_given:
            ref["by_name"] = True  # a reference by name: the stored definition's URI wins
        return ref


class Dataset(Asset):
    """Airflow 2's name: ``Dataset(uri, extra=)``."""

    def __init__(self, uri: str, extra: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(name=kwargs.pop("name", None) or uri, uri=uri, extra=extra, **kwargs)


class AssetAlias(BaseAsset):
    """A name a task attaches assets to at run time; DAGs scheduled on it run on those assets' events."""

    def __init__(self, name: str, group: str = "asset") -> None:
        if not name:
            raise ValueError("AssetAlias needs a name")
        self.name, self.group = str(name), group

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AssetAlias) and self.name == other.name

    def __hash__(self) -> int:
        return hash(("alias", self.name))

    def __repr__(self) -> str:
        return f"AssetAlias({self.name!r})"

    def as_condition(self) -> dict[str, Any]:
        return {"alias": self.name}

    def iter_aliases(self) -> Iterator[AssetAlias]:
        yield self


DatasetAlias = AssetAlias


class _AssetBooleanCondition(BaseAsset):
    kind = ""

    def __init__(self, *objects: BaseAsset) -> None:
        for obj in objects:
            if not isinstance(obj, BaseAsset):
                raise TypeError(f"{type(self).__name__} takes assets, aliases or conditions, got {obj!r}")
        self.objects = list(objects)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self.objects))})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.objects == other.objects  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.kind, tuple(self.objects)))

    def as_condition(self) -> dict[str, Any]:
        return {self.kind: [obj.as_condition() for obj in self.objects]}

    def iter_assets(self) -> Iterator[Asset]:
        for obj in self.objects:
            yield from obj.iter_assets()

    def iter_aliases(self) -> Iterator[AssetAlias]:
        for obj in self.objects:
            yield from obj.iter_aliases()


class AssetAll(_AssetBooleanCondition):
    """Every one of the objects must have had an event (``a & b``, or a list as ``schedule``)."""

    kind = "all"

    def __and__(self, other: BaseAsset) -> AssetAll:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAll(*self.objects, other)


class AssetAny(_AssetBooleanCondition):
    """Any one of the objects having had an event is enough (``a | b``)."""

    kind = "any"

    def __or__(self, other: BaseAsset) -> AssetAny:
        if not isinstance(other, BaseAsset):
            return NotImplemented
        return AssetAny(*self.objects, other)


DatasetAll, DatasetAny = AssetAll, AssetAny


def condition_of(schedule: Any) -> BaseAsset | None:
    """The asset condition a ``schedule`` value means, or None when it is not about assets."""
    if isinstance(schedule, BaseAsset):
        return schedule
    if isinstance(schedule, list | tuple) and schedule and all(isinstance(v, BaseAsset) for v in schedule):
        return schedule[0] if len(schedule) == 1 else AssetAll(*schedule)
    return None


class AssetTriggeredTimetable(NullTimetable):
    """``schedule=<assets>``: no time-based runs; runs come from asset events (and by hand)."""

    summary = "Asset"
    description = "Triggered by asset updates"


class AssetOrTimeSchedule(Timetable):
    """Runs on ``timetable`` and also whenever ``assets`` have been updated (Airflow's class)."""

    def __init__(self, *, timetable: Timetable, assets: Any) -> None:
        condition = condition_of(assets)
        if condition is None or not isinstance(timetable, Timetable):
            raise TypeError("AssetOrTimeSchedule(timetable=<a Timetable>, assets=<assets or a condition>)")
        self.timetable, self.condition = timetable, condition
        self.periodic = timetable.periodic
        self.can_be_scheduled = timetable.can_be_scheduled

    @property
    def summary(self) -> str:  # type: ignore[override]
        return f"Asset or {self.timetable.summary}"

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"Triggered by assets or {self.timetable.description}"

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction, now: dt.datetime
    ) -> DagRunInfo | None:
        return self.timetable.next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction, now=now
        )

    def infer_manual_data_interval(self, *, run_after: dt.datetime) -> DataInterval:
        return self.timetable.infer_manual_data_interval(run_after=run_after)

    def serialize(self) -> dict[str, Any]:
        # The time-based part; the asset condition is serialized with the DAG.
        return self.timetable.serialize()


def evaluate(condition: dict[str, Any], queued: set[str], aliases: Mapping[str, set[str]]) -> bool:
    """Whether the serialized ``condition`` holds when the assets named ``queued`` have new events.

    An alias holds when any asset attached to it (``aliases[name]``) has.
    """
    if "asset" in condition:
        return condition["asset"] in queued
    if "alias" in condition:
        return bool(aliases.get(condition["alias"], set()) & queued)
    if "all" in condition:
        return all(evaluate(c, queued, aliases) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, queued, aliases) for c in condition["any"])
    raise ValueError(f"unknown asset condition {condition!r}")


def condition_names(condition: dict[str, Any] | None) -> tuple[set[str], set[str]]:
    """The asset names and alias names a serialized condition refers to."""
    assets: set[str] = set()
    aliases: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "asset" in node:
            assets.add(node["asset"])
        elif "alias" in node:
            aliases.add(node["alias"])
        for child in node.get("all", []) + node.get("any", []):
            walk(child)

    if condition:
        walk(condition)
    return assets, aliases


# -- at run time -------------------------------------------------------------------------------


@dataclass
class Metadata:
    """Yielded by a task: the ``extra`` of the event for ``asset`` (through ``alias`` if given)."""

    asset: Asset
    extra: dict[str, Any]
    alias: AssetAlias | None = None


@dataclass
class OutletEventAccessor:
    """``outlet_events[asset]``: set ``.extra``; for an alias, ``.add(asset, extra=)``."""

    key: BaseAsset
    extra: dict[str, Any] = field(default_factory=dict)
    asset_alias_events: list[tuple[Asset, dict[str, Any]]] = field(default_factory=list)

    def add(self, asset: Asset, extra: dict[str, Any] | None = None) -> None:
        if not isinstance(self.key, AssetAlias):
            raise TypeError(f"add() is for an AssetAlias outlet, not {self.key!r}")
        if not isinstance(asset, Asset):
            raise TypeError(f"outlet_events[{self.key!r}].add() takes an Asset, got {asset!r}")
        self.asset_alias_events.append((asset, dict(extra or {})))


class OutletEventAccessors(Mapping):
    """``outlet_events``: one accessor per asset or alias (created on first use)."""

    def __init__(self) -> None:
        self._accessors: dict[BaseAsset, OutletEventAccessor] = {}

    def __getitem__(self, key: BaseAsset) -> OutletEventAccessor:
        if not isinstance(key, Asset | AssetAlias):
            raise KeyError(f"outlet_events takes an Asset or an AssetAlias, got {key!r}")
        if key not in self._accessors:
            self._accessors[key] = OutletEventAccessor(key=key)
        return self._accessors[key]

    def __iter__(self) -> Iterator[BaseAsset]:
        return iter(self._accessors)

    def __len__(self) -> int:
        return len(self._accessors)

    def take(self, metadata: Metadata) -> None:
        """Record what a task yielded."""
        if not isinstance(metadata.asset, Asset):
            raise TypeError(f"Metadata needs an Asset, got {metadata.asset!r}")
        if metadata.alias is not None:
            self[metadata.alias].add(metadata.asset, extra=metadata.extra)
        else:
            self[metadata.asset].extra.update(metadata.extra)

    def events(self, outlets: list[Any]) -> list[dict[str, Any]]:
        """The events a successful try records: one per Asset outlet, plus what aliases were given."""
        events: list[dict[str, Any]] = []
        for outlet in outlets:
            accessor = self._accessors.get(outlet)
            if isinstance(outlet, Asset):
                events.append({**outlet.as_ref(), "event_extra": dict(accessor.extra) if accessor else {}})
            elif isinstance(outlet, AssetAlias) and accessor is not None:
                for asset, extra in accessor.asset_alias_events:
                    events.append({**asset.as_ref(), "event_extra": extra, "alias": outlet.name})
        return events


@dataclass(frozen=True)
class AssetEventView:
    """One asset event as a task reads it (Airflow's ``AssetEvent`` fields)."""

    asset: Asset
    extra: dict[str, Any]
    timestamp: dt.datetime
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int = -1
    id: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AssetEventView:
        asset = Asset(name=data["name"], uri=data["uri"], group=data.get("group") or "asset")
        timestamp = data["timestamp"]
        if isinstance(timestamp, str):
            timestamp = dt.datetime.fromisoformat(timestamp)
        return cls(
            asset=asset,
            extra=data.get("extra") or {},
            timestamp=timestamp,
            source_dag_id=data.get("source_dag_id"),
            source_task_id=data.get("source_task_id"),
            source_run_id=data.get("source_run_id"),
            source_map_index=data.get("source_map_index", -1),
            id=data.get("id"),
        )

    @property
    def uri(self) -> str:
        return self.asset.uri


class InletEventsAccessors(Mapping):
    """``inlet_events[asset_or_alias]``: that asset's events, oldest first, read when first asked."""

    def __init__(self, inlets: list[Any]) -> None:
        self._inlets = [i for i in inlets if isinstance(i, Asset | AssetAlias)]
        self._cache: dict[tuple[str, str], list[AssetEventView]] = {}

    def _events(self, kind: str, name: str) -> list[AssetEventView]:
        if (kind, name) not in self._cache:
            if _read_events is None:
                raise RuntimeError("Asset events are only available where the orchestrator runs tasks")
            self._cache[(kind, name)] = [AssetEventView.from_dict(row) for row in _read_events(kind, name)]
        return self._cache[(kind, name)]

    def __getitem__(self, key: Any) -> list[AssetEventView]:
        if isinstance(key, AssetAlias):
            return self._events("alias", key.name)
        if isinstance(key, Asset):
            return self._events("asset", key.name)
        if isinstance(key, int):  # Airflow 2: inlet_events[0] is the first inlet's events
            return self[self._inlets[key]]
        raise KeyError(f"inlet_events takes an Asset, an AssetAlias or an inlet's index, got {key!r}")

    def for_asset(self, *, name: str | None = None, uri: str | None = None) -> list[AssetEventView]:
        if name is None and uri is None:
            raise TypeError("for_asset() needs name= or uri=")
        kind, value = ("asset", name) if name is not None else ("uri", uri)
        return self._events(kind, value)  # type: ignore[arg-type]

    def for_asset_alias(self, *, name: str) -> list[AssetEventView]:
        return self._events("alias", name)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._inlets)

    def __len__(self) -> int:
        return len(self._inlets)


class TriggeringAssetEvents(Mapping):
    """``triggering_asset_events[asset]``: the events that triggered this asset-triggered run."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._by_asset: dict[Asset, list[AssetEventView]] = {}
        for row in events:
            view = AssetEventView.from_dict(row)
            self._by_asset.setdefault(view.asset, []).append(view)

    def __getitem__(self, key: Any) -> list[AssetEventView]:
        if isinstance(key, str):
            key = next((a for a in self._by_asset if key in (a.name, a.uri)), key)
        return self._by_asset[key]

    def __iter__(self) -> Iterator[Asset]:
        return iter(self._by_asset)

    def __len__(self) -> int:
        return len(self._by_asset)

    def __repr__(self) -> str:
        return repr(self._by_asset)


# -- @asset ------------------------------------------------------------------------------------


class AssetDefinition(Asset):
    """What ``@asset`` returns: the asset, defined by the DAG of one task that materializes it."""

    def __init__(self, *, name: str, uri: str | None, group: str, extra: dict | None, function: Callable) -> None:
        super().__init__(name=name, uri=uri, group=group, extra=extra)
        self.function = function


def asset(
    *,
    schedule: Any,
    uri: str | None = None,
    name: str | None = None,
    group: str = "asset",
    extra: dict[str, Any] | None = None,
    **dag_kwargs: Any,
) -> Callable[[Callable], AssetDefinition]:
    """``@asset(schedule=..., uri=...)``: a DAG named after the function whose one task updates the asset.

    The function's ``self`` is the asset, ``context`` the task context; each other parameter is
    an inlet: the asset of that name (another ``@asset``), passed as an ``Asset``.
    """

    def wrap(function: Callable) -> AssetDefinition:
        from dags_app.sdk.dag import DAG
        from dags_app.sdk.decorators import task

        definition = AssetDefinition(
            name=name or function.__name__, uri=uri, group=group, extra=extra, function=function
        )
        parameters = [p for p in inspect.signature(function).parameters if p not in ("self", "context")]
        inlets = [Asset(name=p) for p in parameters]

        @functools.wraps(function)
        def materialize(**context: Any) -> Any:
            kwargs: dict[str, Any] = dict(zip(parameters, inlets, strict=True))
            wanted = inspect.signature(function).parameters
            if "self" in wanted:
                kwargs["self"] = definition
            if "context" in wanted:
                kwargs["context"] = context
            return function(**kwargs)

        # The context arrives as keyword arguments only when the callable asks for **kwargs.
        materialize.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("context", inspect.Parameter.VAR_KEYWORD)]
        )
        with DAG(dag_id=definition.name, schedule=schedule, **dag_kwargs):
            task(task_id=definition.name, outlets=[definition], inlets=inlets)(materialize)()
        return definition

    return wrap

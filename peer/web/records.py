"""Record pages: a typed form per module (create, view and edit), delete and undelete.
Every write goes through the operations layer (``ops.create``, ``update``, ``delete``,
``restore``), as the CLI's and API's do; a ``read-only`` user sees the form's values
but no form."""

from __future__ import annotations

from typing import Any, cast

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from roamsync.peer import ops
from roamsync.peer.ops.args import Fields, Scalar
from roamsync.peer.org import users
from roamsync.peer.web.base import FORM, NODE, SESSION, context
from roamsync.schema import FieldType, RoamsyncError, get_module, parse_input
from roamsync.schema.modules import SYSTEM_MODULES

INPUTS = {  # the HTML input for each field type
    FieldType.STRING: "text",
    FieldType.NUMBER: "text",
    FieldType.MONEY: "text",
    FieldType.DATE: "text",
    FieldType.BOOL: "select",
    FieldType.REFERENCE: "text",
    FieldType.NOTE: "textarea",
}
HINTS = {
    FieldType.NUMBER: "a number, e.g. 12 or 2,5",
    FieldType.MONEY: "an amount, e.g. 12.50 or 12,50",
    FieldType.DATE: "e.g. 2026-12-31 or 31.12.2026",
    FieldType.REFERENCE: "a name, a number or an id",
}


routes = web.RouteTableDef()  # added by app.make_app


def _module(request: web.Request) -> str:
    module = request.match_info["module"]
    try:
        get_module(module)
    except RoamsyncError:
        raise web.HTTPNotFound(text="no such module") from None
    if module in SYSTEM_MODULES:
        raise web.HTTPNotFound(text="no such module")
    return module


def _writer(request: web.Request) -> None:
    """A read-only user writes nothing."""
    user = users.users(request.app[NODE].peer)
    role = next((u.role for u in user if u.email == request[SESSION].email), "read-only")
    if role == "read-only":
        raise web.HTTPForbidden(text="a read-only user changes nothing")


def _fields(
    module: str, values: dict[str, Any], errors: dict[str, str], names: dict[str, str]
) -> list[dict[str, Any]]:
    mod = get_module(module)
    out = []
    for name, field in mod.fields.items():
        value = values.get(name)
        text = (
            ""
            if value is None
            else ("yes" if value is True else "no" if value is False else str(value))
        )
        out.append(
            {
                "name": name,
                "label": name.replace("_", " "),
                "input": INPUTS[field.type],
                "value": text,
                "required": field.required,
                "hint": HINTS.get(field.type, ""),
                "readonly": "set by roamsync (main gives the numbers)" if field.system else "",
                "error": errors.get(name, ""),
                "names": names.get(name, ""),
            }
        )
    return out


def _names(request: web.Request, module: str, record: dict[str, Any] | None) -> dict[str, str]:
    """What each reference of ``record`` names (the referenced number or name)."""
    if not record:
        return {}
    labelled = ops.label_references(request.app[NODE], module, [dict(record)])[0]
    return {
        name: f"→ {str(labelled[name]).rsplit(' (', 1)[0]}"
        for name, field in get_module(module).fields.items()
        if field.target and record.get(name)
    }


def _read_form(module: str, form: MultiDictProxy[Any]) -> tuple[Fields, dict[str, str]]:
    """The form's fields as values (empty: cleared), and the errors by field."""
    mod = get_module(module)
    values: Fields = {}
    errors: dict[str, str] = {}
    for name, field in mod.fields.items():
        if field.system or name not in form:
            continue
        try:
            values[name] = cast("Scalar", parse_input(module, field, str(form[name])))
        except RoamsyncError as exc:
            errors[name] = str(exc)
    return values, errors


def _render(
    request: web.Request, module: str, record: dict[str, Any] | None, **more: Any
) -> web.Response:
    values = {**(record or {}), **more.pop("typed", {})}  # what the user typed stays
    page = {
        "module": module,
        "record": record,
        "fields": _fields(module, values, more.pop("errors", {}), _names(request, module, record)),
        **more,
    }
    return aiohttp_jinja2.render_template("record.html", request, context(request, **page))


@routes.get("/records/{module}/new")
async def new_page(request: web.Request) -> web.Response:
    return _render(request, _module(request), None)


@routes.post("/records/{module}/new")
async def create(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    values, errors = _read_form(module, request[FORM])
    if not errors:
        try:
            made = await ops.create(request.app[NODE], module, values)
        except RoamsyncError as exc:
            errors = {str(getattr(exc, "field", "")): str(exc)}
        else:
            raise web.HTTPFound(f"/records/{module}/{made['id']}")
    typed = {k: str(v) for k, v in request[FORM].items() if k != "csrf"}
    return _render(request, module, None, errors=errors, problem=errors.get("", ""), typed=typed)


@routes.get("/records/{module}/{id}")
async def record_page(request: web.Request) -> web.Response:
    module = _module(request)
    try:
        record = await ops.get(request.app[NODE], module, request.match_info["id"])
    except RoamsyncError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    return _render(request, module, record)


@routes.post("/records/{module}/{id}")
async def update(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    node = request.app[NODE]
    rid = request.match_info["id"]
    values, errors = _read_form(module, request[FORM])
    if not errors:
        try:
            await ops.update(node, module, rid, values)
        except RoamsyncError as exc:
            errors = {str(getattr(exc, "field", "")): str(exc)}
        else:
            raise web.HTTPFound(f"/records/{module}/{rid}")
    typed = {k: str(v) for k, v in request[FORM].items() if k != "csrf"}
    record = await ops.get(node, module, rid)
    return _render(request, module, record, errors=errors, problem=errors.get("", ""), typed=typed)


@routes.post("/records/{module}/{id}/delete")
async def delete(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    rid = request.match_info["id"]
    try:
        await ops.delete(request.app[NODE], module, rid)
    except RoamsyncError as exc:
        record = await ops.get(request.app[NODE], module, rid)
        return _render(request, module, record, problem=str(exc))
    return aiohttp_jinja2.render_template(
        "deleted.html", request, context(request, module=module, id=rid)
    )


@routes.post("/records/{module}/{id}/restore")
async def restore(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    rid = request.match_info["id"]
    await ops.restore(request.app[NODE], module, rid)
    raise web.HTTPFound(f"/records/{module}/{rid}")


@routes.get("/conflicts")
async def conflicts_page(request: web.Request) -> web.Response:
    rows = await ops.conflicts(request.app[NODE])
    return aiohttp_jinja2.render_template(
        "conflicts.html", request, context(request, conflicts=rows, problem="")
    )


@routes.post("/conflicts/resolve")
async def resolve(request: web.Request) -> web.Response:
    """Settle a conflict by keeping one of its competing values."""
    _writer(request)
    form = request[FORM]
    pick = str(form.get("pick", ""))
    try:
        if not pick.isdigit():
            raise web.HTTPBadRequest(text="pick one of the listed values")
        await ops.resolve(
            request.app[NODE], str(form.get("record", "")), str(form.get("field", "")), int(pick)
        )
    except RoamsyncError as exc:
        rows = await ops.conflicts(request.app[NODE])
        return aiohttp_jinja2.render_template(
            "conflicts.html", request, context(request, conflicts=rows, problem=str(exc))
        )
    raise web.HTTPFound("/conflicts")

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
from roamsync.peer.record.text import merge_text
from roamsync.peer.replica.lines import PARENTS, amount
from roamsync.peer.web.access import require_writer
from roamsync.peer.web.base import FORM, NODE, context, user_role
from roamsync.schema import (
    FieldType,
    FieldTypeError,
    RecordNotFoundError,
    RoamsyncError,
    get_module,
    parse_input,
)
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
    """A read-only user writes nothing (the readable 403 page)."""
    module = request.match_info.get("module")
    require_writer(request, back=f"/records/{module}" if module else "/")


def _text(value: Any) -> str:
    """A value as a form shows it."""
    return (
        "" if value is None else "yes" if value is True else "no" if value is False else str(value)
    )


def _fields(
    module: str,
    values: dict[str, Any],
    errors: dict[str, str],
    names: dict[str, str],
    base: dict[str, str],
    clashes: dict[str, str],
) -> list[dict[str, Any]]:
    mod = get_module(module)
    out = []
    for name, field in mod.fields.items():
        out.append(
            {
                "name": name,
                "label": name.replace("_", " "),
                "input": INPUTS[field.type],
                "value": _text(values.get(name)),
                "base": base.get(name, ""),  # what the form showed: edits are against it
                "required": field.required,
                "hint": HINTS.get(field.type, ""),
                "readonly": "set by roamsync (main gives the numbers)" if field.system else "",
                "error": errors.get(name, ""),
                "names": names.get(name, ""),
                "target": field.target or "",
                "clash": clashes.get(name),
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


def _said(exc: RoamsyncError) -> str:
    """An error as a person reads it beside its field: no module.field, no type names."""
    if isinstance(exc, FieldTypeError):
        return f"Type {exc.expected}; “{str(exc.value)[:80]}” is not one."
    return str(exc)


def _read_form(
    module: str, form: MultiDictProxy[Any], names: set[str]
) -> tuple[Fields, dict[str, str]]:
    """The form's fields of ``names`` as values (empty: cleared), and the errors by field."""
    mod = get_module(module)
    values: Fields = {}
    errors: dict[str, str] = {}
    for name, field in mod.fields.items():
        if field.system or name not in form or name not in names:
            continue
        try:
            values[name] = cast("Scalar", parse_input(module, field, str(form[name])))
        except RoamsyncError as exc:
            errors[name] = _said(exc)
    return values, errors


async def _render(
    request: web.Request, module: str, record: dict[str, Any] | None, **more: Any
) -> web.Response:
    values = {**(record or {}), **more.pop("typed", {})}  # what the user typed stays
    base = {n: _text((record or {}).get(n)) for n in get_module(module).fields}
    base |= more.pop("base", {})
    about = await _about(request, module, record) if record else {}
    fields = _fields(
        module,
        values,
        more.pop("errors", {}),
        _names(request, module, record),
        base,
        more.pop("clashes", {}),
    )
    if user_role(request) == "read-only":
        for field in fields:
            field["readonly"] = field["readonly"] or "you may read, not change (read-only user)"
    if about.get("lines"):
        for field in fields:
            if field["name"] == "total":
                field["readonly"] = "the sum of the lines below"
    first_error = next((f["name"] for f in fields if f["error"]), "")  # focused
    page = {"module": module, "record": record, "fields": fields, **more, **about}
    page["first_error"] = first_error
    response = aiohttp_jinja2.render_template("record.html", request, context(request, **page))
    response.set_status(more.get("status", 200))
    return response


async def _about(request: web.Request, module: str, record: dict[str, Any]) -> dict[str, Any]:
    """A saved record's lines (quotes, orders) and who changed what."""
    node = request.app[NODE]
    more: dict[str, Any] = {"changes": (await ops.changes(node, module, record["id"]))[:30]}
    if module in PARENTS:
        lines_module, parent = PARENTS[module]
        await node.peer.indexed()
        lines = node.peer.lines(module, record["id"])
        ops.label_references(node, lines_module, lines)
        more["lines"] = [
            {**line, "product": str(line.get("product") or "").rsplit(" (", 1)[0]}
            | {"amount": amount(line)}
            for line in sorted(lines, key=lambda r: r["id"])
        ]
        more["lines_module"], more["parent"] = lines_module, parent
    return more


@routes.get("/records/{module}/new")
async def new_page(request: web.Request) -> web.Response:
    """An empty form; ``?field=value`` fills a field in (a new order line's order)."""
    module = _module(request)
    fields = get_module(module).fields
    typed = {k: v for k, v in request.query.items() if k in fields and not fields[k].system}
    return await _render(request, module, None, typed=typed)


@routes.post("/records/{module}/new")
async def create(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    values, errors = _read_form(module, request[FORM], set(get_module(module).fields))
    if not errors:
        try:
            made = await ops.create(request.app[NODE], module, values)
        except RoamsyncError as exc:
            errors = {str(getattr(exc, "field", "")): _said(exc)}
        else:
            raise web.HTTPFound(f"/records/{module}/{made['id']}")
    return await _render(
        request, module, None, errors=errors, problem=errors.get("", ""), typed=_typed(request)
    )


def _typed(request: web.Request) -> dict[str, str]:
    return {k: str(v) for k, v in request[FORM].items() if k != "csrf" and "." not in k}


@routes.get("/records/{module}/{id}")
async def record_page(request: web.Request) -> web.Response:
    module = _module(request)
    try:
        record = await ops.get(request.app[NODE], module, request.match_info["id"])
    except RoamsyncError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    return await _render(request, module, record)


@routes.post("/records/{module}/{id}")
async def update(request: web.Request) -> web.Response:
    """Save what the user changed, and only that, against what the form showed (the
    ``_base.FIELD`` inputs): a field changed on another device meanwhile, and here to
    something else, is not overwritten blindly: the form comes back saying so, and a
    second save keeps the user's value. A note takes the user's edit as a diff, merged
    with the other one."""
    module = _module(request)
    _writer(request)
    node = request.app[NODE]
    rid = request.match_info["id"]
    form = request[FORM]
    try:
        record = await ops.get(node, module, rid)
    except RoamsyncError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    fields = get_module(module).fields
    now = {n: _text(record.get(n)) for n in fields}
    base = {n: str(form.get("_base." + n, now[n])) for n in fields}
    touched = {n for n in fields if n in form and not fields[n].system and str(form[n]) != base[n]}
    clashes = {
        n: now[n]
        for n in touched
        if fields[n].type is not FieldType.NOTE and now[n] not in (base[n], str(form[n]))
    }
    if clashes:
        return await _render(
            request,
            module,
            record,
            typed=_typed(request),
            clashes=clashes,
            base={**base, **clashes},
            status=409,
        )
    values, errors = _read_form(module, form, touched)
    for n in touched & set(values):
        if fields[n].type is FieldType.NOTE:
            values[n] = merge_text(base[n], str(form[n]), now[n])
    if not errors and values:
        try:
            await ops.update(node, module, rid, values)
        except RoamsyncError as exc:
            errors = {str(getattr(exc, "field", "")): _said(exc)}
    if not errors:
        raise web.HTTPFound(f"/records/{module}/{rid}")
    return await _render(
        request,
        module,
        record,
        errors=errors,
        problem=errors.get("", ""),
        typed=_typed(request),
        base=base,
    )


@routes.post("/records/{module}/{id}/delete")
async def delete(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    rid = request.match_info["id"]
    try:
        await ops.delete(request.app[NODE], module, rid)
    except RecordNotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    except RoamsyncError as exc:
        record = await ops.get(request.app[NODE], module, rid)
        return await _render(request, module, record, problem=str(exc))
    return aiohttp_jinja2.render_template(
        "deleted.html", request, context(request, module=module, id=rid)
    )


@routes.post("/records/{module}/{id}/restore")
async def restore(request: web.Request) -> web.Response:
    module = _module(request)
    _writer(request)
    rid = request.match_info["id"]
    try:
        await ops.restore(request.app[NODE], module, rid)
    except RecordNotFoundError as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    raise web.HTTPFound(f"/records/{module}/{rid}")


@routes.get("/suggest/{module}")
async def suggest(request: web.Request) -> web.Response:
    """Records whose names start with the typed words, for picking a reference:
    ``[{"id", "label"}]``, at most 10."""
    module = _module(request)
    text = request.query.get("q", "").strip()[:100]
    peer, found = request.app[NODE].peer, []
    if text:
        await peer.indexed()
        found = peer.search(module, text, limit=10)
    rows = [
        {"id": r["id"], "label": str(r.get("number") or r.get("name") or r["id"])} for r in found
    ]
    return web.json_response(rows, headers={"Cache-Control": "no-store"})


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
        if not (pick.isascii() and pick.isdigit() and len(pick) <= 4):
            raise web.HTTPBadRequest(text="pick one of the listed values")
        await ops.resolve(
            request.app[NODE],
            str(form.get("record", "")),
            str(form.get("field", "")),
            int(pick),
        )
    except RoamsyncError as exc:
        rows = await ops.conflicts(request.app[NODE])
        return aiohttp_jinja2.render_template(
            "conflicts.html", request, context(request, conflicts=rows, problem=str(exc))
        )
    raise web.HTTPFound("/conflicts")

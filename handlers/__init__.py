"""aiogram Routers, one module per feature. Order matters: commands that work everywhere
come first, the fallback last."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    from handlers import (
        broadcast,
        cases,
        common,
        enrolment,
        errors,
        fallback,
        ltsi,
        match,
        mentoring,
        plan,
        portfolio,
        practice,
        reflect,
        report,
    )

    return [
        errors.router,
        common.router,
        broadcast.router,
        ltsi.router,
        plan.router,
        reflect.router,
        practice.router,
        portfolio.router,
        cases.router,
        match.router,
        mentoring.router,
        report.router,
        enrolment.router,
        fallback.router,
    ]


def detach_routers(parent: Router) -> None:
    """Undo `include_routers`, so that the module-level routers can serve a new Dispatcher
    (the tests and the sandbox build several in one process). aiogram has no public way."""
    for router in parent.sub_routers:
        router._parent_router = None
    parent.sub_routers.clear()

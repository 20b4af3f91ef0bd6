"""The growth portfolio as one self-contained HTML file: content/portfolio/portfolio.html.j2
rendered with Jinja2 (autoescaped: every answer is the trainee's free text), its labels from
content/i18n/<locale>/portfolio.yaml, the self-check radar charts inlined as base64 PNG.

HTML, not PDF, on purpose: it opens on any phone or computer without an app, the reader's
own fonts draw the Chinese, and the print stylesheet turns it into a clean PDF from any
browser's "print". (A PDF made here with headless Chromium would need Chromium on the
server and a bundled CJK font, for a file that is no better to read.)
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2

from bot.charts.fonts import MissingFontError
from bot.content import ContentError, Translator
from bot.content.ltsi import LtsiBank
from bot.services.ltsi_chart import diagnosis_radar_png

if TYPE_CHECKING:
    from bot.services.ltsi import Diagnosis
    from bot.services.portfolio import Portfolio, ScenarioEntry

log = logging.getLogger(__name__)

TEMPLATE_DIR = "portfolio"
TEMPLATE = "portfolio.html.j2"
# Characters no file system or chat app likes in a file name.
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+|^\.+')


@dataclass(frozen=True, slots=True)
class PortfolioDocument:
    filename: str
    data: bytes
    name: str | None  # whose it is
    day: date  # when it was made, in the person's zone
    charts: int  # radar charts included
    charts_left_out: int  # charts that could not be drawn (no CJK font)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def safe_file_name(text: str) -> str:
    """`text` fit for a file name: unsafe characters become '-', spaces too."""
    cleaned = _UNSAFE_NAME.sub("-", text.strip())
    return re.sub(r"[\s-]+", "-", cleaned).strip("-")


class PortfolioRenderer:
    def __init__(self, content_dir: Path, bank: LtsiBank) -> None:
        self._bank = bank
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(content_dir / TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        path = content_dir / TEMPLATE_DIR / TEMPLATE
        try:
            self._template = env.get_template(TEMPLATE)
        except jinja2.TemplateNotFound as exc:
            raise ContentError(path, "the portfolio document template is missing") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise ContentError(path, f"template error: {exc.message}", exc.lineno) from exc

    @staticmethod
    def chart_count(portfolio: Portfolio) -> int:
        return len(portfolio.waves)

    async def render(self, portfolio: Portfolio, t: Translator) -> PortfolioDocument:
        charts: list[str | None] = []
        for wave in portfolio.waves:
            charts.append(await self._chart(wave, t))
        view = self._view(portfolio, t, charts)
        html = self._template.render(t=t.plain, p=view)
        day = portfolio.generated_at.astimezone(_zone(portfolio.timezone)).date()
        stem = t.plain("portfolio.doc.file_stem")
        parts = [stem, safe_file_name(portfolio.name or ""), day.isoformat()]
        filename = "-".join(p for p in parts if p) + ".html"
        drawn = sum(1 for c in charts if c is not None)
        return PortfolioDocument(
            filename, html.encode("utf-8"), portfolio.name, day, drawn, len(charts) - drawn
        )

    async def _chart(self, d: Diagnosis, t: Translator) -> str | None:
        """The wave's radar chart (with the previous wave) as a data: URI, or None."""
        try:
            png = await diagnosis_radar_png(d, self._bank, t)
        except MissingFontError:
            log.error("no CJK font: the portfolio goes out without its charts")
            return None
        return "data:image/png;base64," + base64.b64encode(png).decode("ascii")

    def _view(self, p: Portfolio, t: Translator, charts: list[str | None]) -> dict[str, Any]:
        """Plain values for the template: dates formatted, labels looked up."""
        zone = p.timezone
        first = p.enrolments[0] if p.enrolments else None
        return {
            "lang": t.locale,
            "name": p.name or t.plain("portfolio.doc.no_name"),
            "unit": p.unit_name,
            "position": p.position,
            "course": first.course if first else None,
            "cohort": first.cohort if first else None,
            "since": t.date(first.since.astimezone(_zone(first.timezone)).date())
            if first
            else None,
            "ends_on": t.date(first.ends_on) if first else None,
            "generated_at": t.moment(p.generated_at, zone),
            "enrolments": [
                {
                    "cohort": e.cohort,
                    "course": e.course,
                    "since": t.date(e.since.astimezone(_zone(e.timezone)).date()),
                    "ends_on": t.date(e.ends_on),
                    "status": t.plain(f"portfolio.enrolment_status.{e.status}"),
                }
                for e in p.enrolments
            ],
            "waves": [self._wave(d, t, chart) for d, chart in zip(p.waves, charts, strict=True)],
            "plans": [
                {
                    "cohort": plan.cohort,
                    "area": (
                        plan.area_other
                        if plan.area == "other" and plan.area_other
                        else t.area(plan.area)
                    ),
                    "goal": plan.goal,
                    "success": plan.success,
                    "support": plan.support,
                    "updated": t.date(plan.updated_at.astimezone(_zone(plan.timezone)).date()),
                    "milestones": [
                        {
                            "icon": t.plain(f"portfolio.milestone_mark.{m.status}"),
                            "status": t.plain(f"portfolio.milestone_status.{m.status}"),
                            "title": m.title,
                            "due": t.date(m.due_on),
                            "note": m.note,
                            "moved_from": t.date(m.moved_from) if m.moved_from else None,
                            "move_reason": m.move_reason,
                        }
                        for m in plan.milestones
                    ],
                }
                for plan in p.plans
            ],
            "reflections": [
                {
                    "date": t.date(
                        (r.completed_at or r.created_at).astimezone(_zone(r.timezone)).date()
                    ),
                    "cohort": r.cohort,
                    "draft": not r.done,
                    "prompt_number": r.prompt_number,
                    "milestone": r.milestone,
                    "answers": [
                        {
                            "question": question_label(t, a.question, n),
                            "kind": a.kind,
                            "text": a.text,
                            "media": (
                                t.plain(f"portfolio.doc.media.{a.kind}")
                                if a.kind in ("voice", "photo")
                                else None
                            ),
                        }
                        for n, a in enumerate(r.answers, start=1)
                    ],
                    "comments": [
                        {
                            "author": t.plain(
                                "portfolio.doc.comment_author",
                                role=t.plain(f"portfolio.role.{c.author_role}"),
                                name=c.author_name,
                            ),
                            "date": t.date(c.created_at.astimezone(_zone(r.timezone)).date()),
                            "text": c.text,
                        }
                        for c in r.comments
                    ],
                }
                for r in p.reflections
            ],
            "cases": [
                {
                    "title": c.title,
                    "area": t.area(c.area),
                    "body": c.body,
                    "pseudonym": c.pseudonym,
                    "cohort": c.cohort,
                    "published": (
                        t.date(c.published_at.astimezone(_zone(c.timezone)).date())
                        if c.published_at
                        else None
                    ),
                }
                for c in p.cases
            ],
            # The document shows the section only when there are finished plays.
            "scenarios": [self._play(play, t) for play in p.plays],
        }

    @staticmethod
    def _play(s: ScenarioEntry, t: Translator) -> dict[str, Any]:
        zone = _zone(s.timezone)
        return {
            "title": s.title(t.locale),
            "role": s.role(t.locale),
            "ending": s.ending(t.locale),
            "cohort": s.cohort,
            "date": t.date(s.finished_at.astimezone(zone).date()),
            "scores": [
                {
                    "name": d.name(t.locale),
                    "percent": d.percent,
                    "score": "—" if d.percent is None else str(d.percent),
                    "raw": f"{d.raw:+d}" if d.raw else "0",
                }
                for d in s.scores
            ],
            "untested": any(d.percent is None for d in s.scores),
            "total": "—" if s.total is None else str(s.total),
            "recommended": s.recommended,
            "decisions": s.decisions,
            "answers": [
                {
                    "prompt": a.prompt(t.locale),
                    "date": t.date(a.created_at.astimezone(zone).date()),
                    "text": a.text,
                    "comment": a.comment,
                    "author": t.plain(
                        "portfolio.doc.comment_author",
                        role=t.plain("portfolio.role.mentor"),
                        name=a.commenter,
                    ),
                    "commented": (
                        t.date(a.commented_at.astimezone(zone).date()) if a.commented_at else None
                    ),
                }
                for a in s.answers
            ],
        }

    def _wave(self, d: Diagnosis, t: Translator, chart: str | None) -> dict[str, Any]:
        bank = self._bank
        low, high = d.thresholds
        groups = []
        for g in bank.groups:
            value = d.groups.get(g.id)
            before = d.previous_groups.get(g.id) if d.previous_groups else None
            groups.append(
                {
                    "name": g.name(t.locale),
                    "score": _score(value),
                    "before": _score(before) if d.previous_groups is not None else None,
                }
            )
        return {
            "title": t.plain(f"ltsi.wave.{d.wave}"),
            "previous": t.plain(f"ltsi.wave.{d.previous_wave}") if d.previous_wave else None,
            "completed": t.date(d.completed_at.astimezone(_zone(d.cohort.timezone)).date()),
            "cohort": d.cohort.name,
            "chart": chart,
            "low": f"{low:g}",
            "high": f"{high:g}",
            "groups": groups,
            "catalysts": [
                {"name": bank.factor(c.factor).name(t.locale), "score": _score(c.score)}
                for c in d.catalysts
            ],
            "barriers": [
                {
                    "name": bank.factor(b.factor).name(t.locale),
                    "score": _score(b.score),
                    "suggestion": bank.factor(b.factor).suggestion(t.locale),
                }
                for b in d.barriers
            ],
        }


def question_label(t: Translator, question_id: str, number: int) -> str:
    """A reflection question as /reflect asks it (content: reflect.question.<id>), or
    "Question N" for an id that content does not (or no longer) name."""
    try:
        return t.plain(f"reflect.question.{question_id}")
    except KeyError:
        return t.plain("portfolio.question_fallback", number=number)


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)

"""Asking the questions: answers from a file are taken as given (already validated), the rest are
asked through a front end, each answer validated at once and asked again with the reason, then a
summary to confirm before anything changes."""

from __future__ import annotations

from typing import Any, Protocol

from vdsm_hosted_engine.deploy.questions import DEFAULT_CONTEXT, QUESTIONS, Question, validate
from vdsm_hosted_engine.deploy.validators import Context
from vdsm_hosted_engine.errors import HostedEngineError


class DeployAborted(HostedEngineError):
    """The user stopped the deploy (declined the summary, or input ended)."""

    expected = True


class FrontEnd(Protocol):
    def ask(self, question: Question, default: Any, problem: str | None) -> str | None:
        """One answer as text (None or "" for the default); `problem` says why the last was refused."""

    def confirm(self, summary: list[tuple[str, str, Any]]) -> bool:
        """Show (group, prompt, value) rows; True to go on."""


def collect(
    front_end: FrontEnd, preset: dict[str, Any] | None = None, context: Context = DEFAULT_CONTEXT
) -> dict[str, Any]:
    answers: dict[str, Any] = dict(preset or {})
    for question in QUESTIONS:
        if question.key in answers or not question.applies(answers):
            continue
        default = question.default_for(answers)
        problem = None
        while True:
            text = front_end.ask(question, default, problem)
            value = default if (text is None or text == "") and default is not None else text
            try:
                answers[question.key] = validate(question, value, answers, context)
                break
            except ValueError as e:
                problem = str(e)
    summary = [
        (q.group, q.prompt, "(set)" if q.secret and answers[q.key] is not None else answers[q.key])
        for q in QUESTIONS
        if q.key in answers
    ]
    if not front_end.confirm(summary):
        raise DeployAborted("deploy cancelled: nothing was changed")
    return answers

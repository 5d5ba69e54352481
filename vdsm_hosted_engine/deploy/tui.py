"""The full-screen front end (`hosted-engine --deploy --tui`), on Textual.

The same questions, defaults and validators as the line front end (deploy/questions.py): one form
with an input per question (answer-file answers filled in), each validated when it changes, with the
reason shown under it; "Deploy" is accepted only when every answer is valid and then shows the same summary as the line
front end, to confirm or go back; "Cancel" changes nothing. Answer-file values are kept, those of
questions never asked included.
Questions that depend on others (the TCP port only for the tcp test, the SMTP details only with a
server) show or hide as the answers change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from vdsm_hosted_engine.deploy.questions import DEFAULT_CONTEXT, QUESTIONS, Question, validate
from vdsm_hosted_engine.deploy.validators import Context


def _id(question: Question) -> str:
    return "q-" + question.key.replace("/", "-").replace("_", "-").lower()


class DeployForm(App[dict[str, Any] | None]):
    """Returns the validated answers, or None when cancelled."""

    TITLE = "hosted-engine --deploy"
    CSS = """
    .group { margin-top: 1; text-style: bold; }
    .question { height: auto; }
    .error { color: red; height: auto; }
    Input { width: 100%; }
    #buttons { height: auto; margin-top: 1; }
    """
    BINDINGS: ClassVar = [("escape", "cancel", "Cancel")]

    def __init__(self, preset: dict[str, Any] | None = None, context: Context = DEFAULT_CONTEXT) -> None:
        super().__init__()
        self.preset = dict(preset or {})
        self.context = context
        self.values: dict[str, Any] = {}
        # Validators probe the machine (ping, qemu-img): each (question, text, earlier answers) once,
        # not on every redraw.
        self._checked: dict[tuple[str, str, str], tuple[Any, str | None]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            group = ""
            for question in QUESTIONS:
                if question.group != group:
                    group = question.group
                    yield Static(group.upper(), classes="group")
                # One scrolling form; a question is a plain (unfocusable) box, so Tab goes input to input.
                with Vertical(id=f"{_id(question)}-box", classes="question"):
                    yield Label(question.prompt)
                    yield Input(id=_id(question), password=question.secret)
                    yield Static("", id=f"{_id(question)}-error", classes="error")
            with Horizontal(id="buttons"):
                yield Button("Deploy", id="deploy", variant="primary")
                yield Button("Cancel", id="cancel")
            yield Static("", id="summary", classes="error")
        yield Footer()

    def on_mount(self) -> None:
        for question in QUESTIONS:
            if question.key in self.preset and self.preset[question.key] is not None:
                self.query_one(f"#{_id(question)}", Input).value = str(self.preset[question.key])
        self.refresh_form()
        # The first question shown takes the keys (not the scrolling form), its label left in view; a
        # question the answers hide (the storage type when an answer file names a path) never does.
        shown = [q for q in QUESTIONS if self.query_one(f"#{_id(q)}-box").display]
        if shown:
            self.query_one(f"#{_id(shown[0])}", Input).focus(scroll_visible=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The header says which question has the keys: at 80x24 most of the form is scrolled away."""
        shown = [q for q in QUESTIONS if self.query_one(f"#{_id(q)}-box").display]
        for number, question in enumerate(shown, 1):
            if event.widget.id == _id(question):
                self.sub_title = f"question {number} of {len(shown)}"
                return
        self.sub_title = ""

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_form()

    def refresh_form(self) -> bool:
        """Validate every visible answer in order; show or hide dependent questions. True when all valid."""
        answers: dict[str, Any] = {}
        ok = True
        for question in QUESTIONS:
            box = self.query_one(f"#{_id(question)}-box")
            error = self.query_one(f"#{_id(question)}-error", Static)
            # Answer-file values of questions never asked (the lab's kernel/initrd/cmdline) are kept.
            applies = question.applies({**self.preset, **answers})
            box.display = applies
            if not applies:
                continue
            field = self.query_one(f"#{_id(question)}", Input)
            default = question.default_for(answers)
            field.placeholder = "" if default is None else f"{default} (default)"
            # An empty field means the default, as in the line front end; defaults follow the
            # answers they derive from (the health URL follows the FQDN).
            text = field.value if field.value.strip() or default is None else default
            value, problem = self._validate(question, text, answers)
            error.update(problem or "")
            if problem is None:
                answers[question.key] = value
            else:
                ok = False
        self.values = answers
        return ok

    def _validate(self, question: Question, text: Any, answers: dict[str, Any]) -> tuple[Any, str | None]:
        key = (question.key, str(text), repr(sorted(answers.items())))
        if key not in self._checked:
            try:
                self._checked[key] = (validate(question, text, answers, self.context), None)
            except ValueError as e:
                self._checked[key] = (None, str(e))
        return self._checked[key]

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.exit(None)
            return
        if self.refresh_form():
            self.push_screen(Summary(summary_rows(self.values)), self._confirmed)
        else:
            self.query_one("#summary", Static).update("some answers are not valid: see the messages above")

    def _confirmed(self, go: bool | None) -> None:
        if go:
            self.exit(self.values)

    def action_cancel(self) -> None:
        self.exit(None)


def summary_rows(answers: dict[str, Any]) -> list[str]:
    """The line front end's summary, one row per answer (a secret shows as set)."""
    rows = []
    for question in QUESTIONS:
        if question.key in answers:
            value = answers[question.key]
            shown = "(none)" if value is None else "(set)" if question.secret else value
            rows.append(f"{question.prompt}: {shown}")
    return rows


class Summary(ModalScreen[bool]):
    """The configuration preview; nothing changes until it is confirmed."""

    CSS = """
    Summary { align: center middle; }
    #preview { width: 100%; height: 1fr; border: round $primary; }
    #confirm-buttons { height: auto; }
    """
    BINDINGS: ClassVar = [("escape", "back", "Back")]

    def __init__(self, rows: list[str]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="preview"):
            yield Static("CONFIGURATION PREVIEW", classes="group")
            for row in self.rows:
                yield Static(row)
        with Horizontal(id="confirm-buttons"):
            yield Button("Confirm", id="confirm", variant="primary")
            yield Button("Back", id="back")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()  # the form's Deploy handler must not see Confirm/Back
        self.dismiss(event.button.id == "confirm")

    def action_back(self) -> None:
        self.dismiss(False)

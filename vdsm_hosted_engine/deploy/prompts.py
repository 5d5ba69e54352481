"""The line-by-line front end (the default: works over ssh and in scripts fed through stdin)."""

from __future__ import annotations

import getpass
import sys
from typing import Any, TextIO

from vdsm_hosted_engine.deploy.engine import DeployAborted
from vdsm_hosted_engine.deploy.questions import Question


class Prompts:
    def __init__(self, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self._group = ""

    def _read(self) -> str:
        line = self.stdin.readline()
        if not line:
            raise DeployAborted("input ended before every question was answered: nothing was changed")
        return line.strip()

    def ask(self, question: Question, default: Any, problem: str | None) -> str | None:
        if problem:
            self.stdout.write(f"  [ERROR] {problem}\n")
        if question.group != self._group:
            self._group = question.group
            self.stdout.write(f"\n--== {question.group.upper()} ==--\n")
        shown = "" if default is None else f" [{default}]"
        if question.secret and self.stdin.isatty():
            return getpass.getpass(f"{question.prompt}{shown}: ", stream=self.stdout)
        self.stdout.write(f"{question.prompt}{shown}: ")
        self.stdout.flush()
        return self._read()

    def confirm(self, summary: list[tuple[str, str, Any]]) -> bool:
        self.stdout.write("\n--== CONFIGURATION PREVIEW ==--\n")
        for _group, prompt, value in summary:
            self.stdout.write(f"  {prompt:60}: {'(none)' if value is None else value}\n")
        while True:
            self.stdout.write("Please confirm installation settings (Yes, No)[Yes]: ")
            self.stdout.flush()
            answer = self._read().lower()
            if answer in ("", "yes", "y"):
                return True
            if answer in ("no", "n"):
                return False
            self.stdout.write("  [ERROR] answer Yes or No\n")

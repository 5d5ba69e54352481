"""Answer files, oVirt's format: an INI section `[environment:default]` of `KEY=type:value` lines.

    [environment:default]
    OVEHOSTED_STORAGE/path=str:/mnt/he-domain
    OVEHOSTED_VM/memMiB=int:4096
    OVEHOSTED_NOTIF/smtpServer=none:None

Reading reports every problem at once as `file:line: KEY: reason` (unknown key, bad type, a value the
question's validator refuses); nothing is half-read. `render` writes the file `--generate-answer`
produces and deploy saves on success.
"""

from __future__ import annotations

from typing import Any

from vdsm_hosted_engine.deploy.questions import BY_KEY, QUESTIONS, TYPES, validate
from vdsm_hosted_engine.errors import ConfigError, ConfigProblem

SECTION = "[environment:default]"


def parse(text: str, path: str = "<answers>") -> dict[str, Any]:
    """Validated answers in question order (a question's validator may use earlier answers)."""
    problems: list[ConfigProblem] = []
    raw: dict[str, tuple[int, str, str]] = {}
    in_section = False
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            in_section = line == SECTION
            if not in_section:
                problems.append(ConfigProblem(path, number, line, f"unknown section (only {SECTION})"))
            continue
        key, sep, typed = line.partition("=")
        key = key.strip()
        if not sep or not in_section:
            problems.append(ConfigProblem(path, number, key or line, "not KEY=type:value in " + SECTION))
            continue
        kind, colon, value = typed.partition(":")
        if not colon or kind not in TYPES:
            problems.append(ConfigProblem(path, number, key, f"type must be one of {', '.join(TYPES)}", typed))
            continue
        if key not in BY_KEY:
            problems.append(ConfigProblem(path, number, key, "unknown key"))
            continue
        if key in raw:
            problems.append(ConfigProblem(path, number, key, f"duplicate key (first on line {raw[key][0]})"))
            continue
        raw[key] = (number, kind, value)
    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        if question.key not in raw:
            continue
        number, kind, value = raw[question.key]
        if kind != question.type and not (kind == "none" and question.optional):
            problems.append(
                ConfigProblem(path, number, question.key, f"type must be {question.type}", f"{kind}:{value}")
            )
            continue
        try:
            answers[question.key] = validate(question, None if kind == "none" else value, answers)
        except ValueError as e:
            problems.append(ConfigProblem(path, number, question.key, str(e), value))
    if problems:
        raise ConfigError(problems)
    return answers


def render(answers: dict[str, Any]) -> str:
    lines = [SECTION]
    for question in QUESTIONS:
        if question.key not in answers:
            continue
        value = answers[question.key]
        if value is None:
            lines.append(f"{question.key}=none:None")
        else:
            lines.append(f"{question.key}={question.type}:{value}")
    return "\n".join(lines) + "\n"

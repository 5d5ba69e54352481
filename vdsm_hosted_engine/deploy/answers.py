"""Answer files, oVirt's format: an INI section `[environment:default]` of `KEY=type:value` lines.

    [environment:default]
    OVEHOSTED_STORAGE/path=str:/mnt/he-domain
    OVEHOSTED_VM/memMiB=int:4096
    OVEHOSTED_NOTIF/smtpServer=none:None

Reading reports every problem at once, in line order, as `file:line: KEY: reason` (bad type, a
value the question's validator refuses, a duplicate); nothing is half-read. An answer file written by
oVirt's `hosted-engine --deploy` is read too: its keys that mean one of our questions are taken under
our name (whatever type oVirt wrote them with: it writes `OVEHOSTED_VM/vmVCpus=str:4`), and every other
key is ignored with one warning. `render` writes the file `--generate-answer` produces and deploy saves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vdsm_hosted_engine.deploy.questions import BY_KEY, DEFAULT_CONTEXT, QUESTIONS, TYPES, validate
from vdsm_hosted_engine.deploy.validators import Context
from vdsm_hosted_engine.errors import ConfigError, ConfigProblem

SECTION = "[environment:default]"

# oVirt's ovirt-hosted-engine-setup keys (ohostedcons) that mean one of our questions.
OVIRT_KEYS = {
    "OVEHOSTED_VM/vmMemSizeMB": "OVEHOSTED_VM/memMiB",
    "OVEHOSTED_VM/vmVCpus": "OVEHOSTED_VM/vcpus",
    "OVEHOSTED_VM/vmMACAddr": "OVEHOSTED_VM/mac",
    "OVEHOSTED_NETWORK/fqdn": "OVEHOSTED_VM/fqdn",
    "OVEHOSTED_NETWORK/network_test": "OVEHOSTED_NETWORK/networkTest",
    "OVEHOSTED_NETWORK/network_test_tcp_address": "OVEHOSTED_NETWORK/networkTestTarget",
    "OVEHOSTED_NETWORK/network_test_tcp_port": "OVEHOSTED_NETWORK/networkTestPort",
    "OVEHOSTED_STORAGE/imgSizeGB": "OVEHOSTED_VM/diskSizeGiB",
    "OVEHOSTED_VM/cloudinitRootPwd": "OVEHOSTED_VM/rootPassword",
}


@dataclass
class AnswerFile:
    answers: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # `file:line: KEY: ignored (...)`, one per key


def read(text: str, path: str = "<answers>", context: Context = DEFAULT_CONTEXT) -> AnswerFile:
    """Validated answers in question order (a question's validator may use earlier answers), and a
    warning for each key ignored; ConfigError lists every problem in line order."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    raw: dict[str, tuple[int, str, str, bool]] = {}  # our key -> line, type, value, under oVirt's name
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
        ours = OVIRT_KEYS.get(key, key)
        if ours not in BY_KEY:
            warnings.append(f"{path}:{number}: {key}: ignored (not a question of this deploy)")
            continue
        if ours in raw:
            problems.append(ConfigProblem(path, number, key, f"duplicate key (first on line {raw[ours][0]})"))
            continue
        if key != ours and kind == "none":
            continue  # oVirt writes every key it knows, unset ones as none:None
        raw[ours] = (number, kind, value, key != ours)
    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        if question.key not in raw:
            continue
        number, kind, value, ovirt = raw[question.key]
        if not ovirt and kind != question.type and not (kind == "none" and question.optional):
            problems.append(
                ConfigProblem(path, number, question.key, f"type must be {question.type}", f"{kind}:{value}")
            )
            continue
        try:
            answers[question.key] = validate(question, None if kind == "none" else value, answers, context)
        except ValueError as e:
            problems.append(ConfigProblem(path, number, question.key, str(e), None if question.secret else value))
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: p.line))
    return AnswerFile(answers, warnings)


def parse(text: str, path: str = "<answers>", context: Context = DEFAULT_CONTEXT) -> dict[str, Any]:
    """The answers alone (warnings dropped): for callers that wrote the file themselves."""
    return read(text, path, context).answers


def render(answers: dict[str, Any], keep_secrets: bool = False) -> str:
    """The answer file; a secret (the root password's hash) only with `keep_secrets`."""
    lines = [SECTION]
    for question in QUESTIONS:
        if question.key not in answers:
            continue
        if question.secret and answers[question.key] is not None and not keep_secrets:
            continue
        value = answers[question.key]
        if value is None:
            lines.append(f"{question.key}=none:None")
        else:
            lines.append(f"{question.key}={question.type}:{value}")
    return "\n".join(lines) + "\n"

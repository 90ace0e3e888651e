"""faas-cli command lines of the READMEs, and a check of each against faas-cli 0.18.12's
commands and flags as recorded from its source in faas_cli_0_18_12.json (used by
test_readme_faas_cli.py).

Extraction (`extract`): the lines of ```sh (bash, shell, console) fenced blocks, joined
across trailing backslashes, split into simple commands at `|`, `||`, `&&`, `;`, `&` and
parentheses, with redirections (`< file`, `> file`, `2>&1`) and leading `VAR=value`
assignments dropped, and a trailing `# comment` cut off; a comment `# or: faas-cli …`
gives a command of its own. Outside fenced blocks, every inline code span that starts
with `faas-cli `. Markdown placeholders such as `<fn>` or `ghcr.io/<you>` stay words.

Check (`check`): cobra's command lookup (Command.Find: the first word that is not a flag
or a flag's value names the subcommand), pflag's parsing (--name=value, --name value,
-x value, -xvalue, -x=value, bool flags without a separate value, combined bool
shorthands, `--` ending the flags) over the command's own flags, the flags it copies
from other commands (AddFlagSet), the persistent flags of its parents and root, and
-h/--help; then cobra's Args rule, the argument counts the command's PreRunE/RunE insist
on, and required flags. An inline span naming only a command (`faas-cli secret create`)
is a mention: the command must exist, its arguments are not counted.
"""

import dataclasses
import json
import re
import shlex
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_FILE = Path(__file__).resolve().parent / "faas_cli_0_18_12.json"
SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh"}
SEPARATORS = {"|", "||", "&&", ";", "&", "|&", "(", ")", ";;"}
HELP_FLAG = {"shorthand": "h", "type": "bool", "takes_value": False, "default": "false"}
GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
           "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
GO_DURATION = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))+)$")
PLACEHOLDER = re.compile(r"<([A-Za-z][\w.-]*)>")


def load_spec(path=SPEC_FILE):
    return json.loads(Path(path).read_text())


# ------------------------------------------------------------------ extraction

@dataclasses.dataclass
class Line:
    """One faas-cli command found in a Markdown file: `args` are the words after
    `faas-cli`; `kind` is "sh", "sh # or:" or "inline"."""
    file: str
    lineno: int
    kind: str
    text: str
    args: list
    error: str = None

    @property
    def id(self):
        return "%s:%d%s" % (self.file, self.lineno, " (# or:)" if self.kind == "sh # or:" else "")


def split_comment(line):
    """(code, comment or None): a `#` starts a comment at the start of a word and outside
    quotes, as in the shell."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif c == "\\":
            i += 1
        elif quote == '"':
            if c == '"':
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace() or line[i - 1] in ";|&()"):
            return line[:i], line[i + 1:]
        i += 1
    return line, None


def simple_commands(code):
    """The simple commands of a shell line, as lists of words (assignments and
    redirections removed). Raises ValueError for unbalanced quotes."""
    code = PLACEHOLDER.sub(lambda m: "\u2039%s\u203a" % m.group(1), code)
    code = re.sub(r"(?<![\w$=-])\d+(?=[<>])", "", code)  # the fd of 2>&1, 2>/dev/null
    lexer = shlex.shlex(code, posix=True, punctuation_chars="|&;<>()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    tokens = [t.replace("\u2039", "<").replace("\u203a", ">") for t in lexer]
    commands, current, skip = [], [], False
    for token in tokens:
        if skip:
            skip = False
            continue
        if token in SEPARATORS:
            commands.append(current)
            current = []
        elif token and set(token) <= set("<>&") and ("<" in token or ">" in token):
            skip = True  # the redirection's target
        else:
            current.append(token)
    commands.append(current)
    result = []
    for words in commands:
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if words:
            result.append(words)
    return result


def faas_cli_commands(code):
    """The argument lists of the faas-cli commands in one shell line."""
    return [words[1:] for words in simple_commands(code) if words[0] == "faas-cli"]


def _lines_of(file, lineno, kind, code):
    if "faas-cli" not in code:
        return []
    try:
        found = faas_cli_commands(code)
    except ValueError as e:
        return [Line(file, lineno, kind, code.strip(), [], error="cannot split: %s" % e)]
    return [Line(file, lineno, kind, code.strip(), args) for args in found]


def extract(text, file="README.md"):
    """Every faas-cli command of a Markdown text, in order."""
    found = []
    lines = text.split("\n")
    prose = []
    fence = None  # (marker char, length, lang)
    pending, pending_no = "", 0
    for no, line in enumerate(lines, 1):
        if fence is None:
            m = re.match(r"^\s*(`{3,}|~{3,})\s*([\w+-]*)", line)
            if m:
                fence = (m.group(1)[0], len(m.group(1)), m.group(2).lower())
                prose.append("")
                continue
            prose.append(line)
            continue
        prose.append("")
        stripped = line.strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= fence[1]:
            fence = None
            continue
        if fence[2] not in SHELL_LANGS:
            continue
        if fence[2] == "console" and line.lstrip().startswith("$ "):
            line = line.lstrip()[2:]
        if not pending:
            pending_no = no
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical, pending = pending + line, ""
        code, comment = split_comment(logical)
        found += _lines_of(file, pending_no, "sh", code)
        if comment is not None:
            m = re.match(r"\s*or:\s*(faas-cli\s.*)$", comment)
            if m:
                found += _lines_of(file, pending_no, "sh # or:", m.group(1))
    text_outside = "\n".join(prose)
    span = re.compile(r"(?<!`)(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
    for m in span.finditer(text_outside):
        content = " ".join(m.group(2).split())
        if content.startswith("faas-cli "):
            lineno = text_outside.count("\n", 0, m.start()) + 1
            found += _lines_of(file, lineno, "inline", content)
    found.sort(key=lambda l: l.lineno)
    return found


# ------------------------------------------------------------------ the check

class Node:
    """A command of the recorded tree, with what it needs from its parents."""

    def __init__(self, spec, name, data, parent):
        self.spec, self.name, self.data, self.parent = spec, name, data, parent
        self.children = {}
        for child, cdata in (data.get("subcommands") or {}).items():
            node = Node(spec, child, cdata, self)
            self.children[child] = node
            for alias in cdata.get("aliases", []):
                self.children.setdefault(alias, node)

    @property
    def path(self):
        return "faas-cli" if self.parent is None else "%s %s" % (self.parent.path, self.name)

    @property
    def runnable(self):
        return self.data.get("runnable", True)

    def persistent_flags(self):
        flags = dict(self.data.get("persistent_flags") or {})
        for other in self.data.get("persistent_add_flag_sets_of", []):
            for name, flag in lookup(self.spec, other.split()).local_flags().items():
                flags.setdefault(name, flag)
        return flags

    def local_flags(self):
        """The command's own flags and those it copies with AddFlagSet (pflag adds a copied
        flag only when its name is not there yet)."""
        flags = dict(self.data.get("flags") or {})
        for other in self.data.get("add_flag_sets_of", []):
            for name, flag in lookup(self.spec, other.split()).local_flags().items():
                flags.setdefault(name, flag)
        return flags

    def flags(self):
        """Every flag the command accepts: its own, then the persistent flags of itself and
        of each parent up to the root, then -h/--help."""
        flags = self.local_flags()
        node = self
        while node is not None:
            for name, flag in node.persistent_flags().items():
                flags.setdefault(name, flag)
            node = node.parent
        flags.setdefault("help", HELP_FLAG)
        return flags


def root(spec):
    data = {"flags": {}, "persistent_flags": spec["root"]["persistent_flags"],
            "subcommands": spec["commands"], "runnable": True}
    return Node(spec, "faas-cli", data, None)


def lookup(spec, names):
    node = root(spec)
    for name in names:
        node = node.children[name]
    return node


def _takes_value(flags, name=None, short=None):
    for fname, flag in flags.items():
        if fname == name or (short is not None and flag.get("shorthand") == short):
            return flag["takes_value"]
    return True  # cobra's stripFlags treats an unknown flag as taking a value


def _first_word(args, flags):
    """Index of the first word that is not a flag or a flag's value (cobra's stripFlags),
    or None."""
    i = 0
    while i < len(args):
        s = args[i]
        if s == "--":
            return None
        if s.startswith("--") and "=" not in s and _takes_value(flags, name=s[2:]):
            i += 2
            continue
        if (s.startswith("-") and not s.startswith("--") and "=" not in s and len(s) == 2
                and _takes_value(flags, short=s[1:])):
            i += 2
            continue
        if s and not s.startswith("-"):
            return i
        i += 1
    return None


def resolve(spec, args):
    """(node, the remaining words) as cobra's Command.Find walks the words."""
    node, rest = root(spec), list(args)
    while True:
        i = _first_word(rest, node.flags())
        if i is None or rest[i] not in node.children:
            return node, rest
        node = node.children[rest[i]]
        rest = rest[:i] + rest[i + 1:]


def _bad_value(flag, value):
    kind = flag["type"]
    if kind == "bool":
        return value not in GO_BOOL
    if kind == "int":
        return not re.match(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO]?[0-7]*|[1-9][0-9]*)$", value)
    if kind == "duration":
        return not GO_DURATION.match(value)
    if kind == "stringToString":
        return any("=" not in kv for kv in value.split(",")) if value else False
    return False


def parse_flags(flags, args):
    """pflag's parsing: (positional arguments, flags set, problems)."""
    by_short = {f["shorthand"]: n for n, f in flags.items() if f.get("shorthand")}
    positional, seen, problems = [], set(), []
    i = 0
    while i < len(args):
        s = args[i]
        i += 1
        if s == "--":
            positional += args[i:]
            break
        if s.startswith("--") and len(s) > 2:
            name, eq, value = s[2:].partition("=")
            flag = flags.get(name)
            if flag is None:
                problems.append("unknown flag: --%s" % name)
                continue
            if not eq:
                if not flag["takes_value"]:
                    value = "true"
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    problems.append("flag needs an argument: --%s" % name)
                    continue
            if _bad_value(flag, value):
                problems.append('invalid argument "%s" for "--%s" flag (%s)' % (value, name, flag["type"]))
            seen.add(name)
        elif s.startswith("-") and len(s) > 1:
            shorts = s[1:]
            while shorts:
                c, shorts = shorts[0], shorts[1:]
                name = by_short.get(c)
                if name is None:
                    problems.append("unknown shorthand flag: '%s' in %s" % (c, s))
                    break
                flag = flags[name]
                if shorts.startswith("="):
                    value, shorts = shorts[1:], ""
                elif not flag["takes_value"]:
                    value = "true"
                elif shorts:
                    value, shorts = shorts, ""
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    problems.append("flag needs an argument: '%s' in %s" % (c, s))
                    break
                if _bad_value(flag, value):
                    problems.append('invalid argument "%s" for "-%s, --%s" flag (%s)'
                                    % (value, c, name, flag["type"]))
                seen.add(name)
        else:
            positional.append(s)
    return positional, seen, problems


def _cobra_args(rule, n, node):
    """cobra's positional-argument validators, with their messages."""
    if rule is None:
        return None
    m = re.match(r"^(\w+)\((\d*)(?:,\s*(\d+))?\)$", rule) or re.match(r"^(\w+)$", rule)
    kind = m.group(1)
    a = int(m.group(2)) if m.lastindex and m.lastindex >= 2 and m.group(2) else None
    b = int(m.group(3)) if m.lastindex and m.lastindex >= 3 and m.group(3) else None
    if kind == "MaximumNArgs" and n > a:
        return "accepts at most %d arg(s), received %d" % (a, n)
    if kind == "MinimumNArgs" and n < a:
        return "requires at least %d arg(s), only received %d" % (a, n)
    if kind == "ExactArgs" and n != a:
        return "accepts %d arg(s), received %d" % (a, n)
    if kind == "RangeArgs" and not a <= n <= b:
        return "accepts between %d and %d arg(s), received %d" % (a, b, n)
    if kind == "NoArgs" and n:
        return "unknown command for %r: %d argument(s)" % (node.path, n)
    if kind not in {"MaximumNArgs", "MinimumNArgs", "ExactArgs", "RangeArgs", "NoArgs", "ArbitraryArgs"}:
        raise ValueError("unknown cobra Args rule %r" % rule)
    return None


def check(spec, args, mention=False):
    """The problems faas-cli 0.18.12 would have with `faas-cli ARGS...` (empty: none)."""
    node, rest = resolve(spec, args)
    if mention and not rest:
        return [] if node.parent is not None else ["no command named"]
    positional, seen, problems = parse_flags(node.flags(), rest)
    if node.parent is None:
        if positional:
            return ['unknown command "%s" for "faas-cli"' % positional[0]] + problems
        if not seen - {"help"}:
            return ["no command"] + problems
    if not node.runnable and positional:
        problems.append('"%s" has no subcommand "%s" (it only prints its help)' % (node.path, positional[0]))
        return problems
    if "help" in seen:
        return problems
    message = _cobra_args(node.data.get("args"), len(positional), node)
    if message:
        problems.append(message)
    runtime = node.data.get("runtime_args")
    if runtime and not (runtime.get("unless_flag") in seen):
        if "min" in runtime and len(positional) < runtime["min"]:
            problems.append("needs at least %d argument(s), got %d (%s)"
                            % (runtime["min"], len(positional), runtime["check"]))
        if "max" in runtime and len(positional) > runtime["max"]:
            problems.append("takes at most %d argument(s), got %d (%s)"
                            % (runtime["max"], len(positional), runtime["check"]))
    for required in node.data.get("required_flags", []):
        if required not in seen:
            problems.append('required flag(s) "%s" not set' % required)
    return problems


def check_line(spec, line):
    if line.error:
        return [line.error]
    return check(spec, line.args, mention=line.kind == "inline")

"""Every faas-cli command line of README.md and k8s/README.md, checked against faas-cli
0.18.12's commands, flags and argument rules as recorded from its source
(faas_cli_0_18_12.json; the extraction and the check are in faas_cli_lines.py).

One case per README line (id `file:line`, `(# or:)` for a `# or: faas-cli …` comment),
then the checker's own tests: it refuses what faas-cli refuses (a flag faas-cli lacks,
a count given to the bool --tail, an unknown command), accepts pflag's other spellings,
and the extraction finds commands after pipes, `&&`, `VAR=x` prefixes, redirections and
in `# or:` comments and inline code spans; a floor on the number of lines found keeps
the extraction from passing by finding none.
"""

import collections
import re

import pytest

import faas_cli_lines as fcl
from faas_cli_lines import REPO_ROOT

READMES = ["README.md", "k8s/README.md"]
SPEC = fcl.load_spec()


def readme_lines():
    lines = []
    for name in READMES:
        lines += fcl.extract((REPO_ROOT / name).read_text(), name)
    return lines


LINES = readme_lines()


def _ids(lines):
    seen = collections.Counter()
    ids = []
    for line in lines:
        seen[line.id] += 1
        ids.append(line.id if seen[line.id] == 1 else "%s #%d" % (line.id, seen[line.id]))
    return ids


@pytest.mark.parametrize("line", LINES, ids=_ids(LINES))
def test_readme_line_is_valid_faas_cli(line):
    problems = fcl.check_line(SPEC, line)
    assert not problems, "faas-cli %s\n  (%s: %s)\nfaas-cli 0.18.12 says: %s" % (
        " ".join(line.args), line.id, line.text, "; ".join(problems))


def test_the_extraction_finds_the_readme_lines():
    by_file = collections.Counter(line.file for line in LINES)
    fenced = [line for line in LINES if line.kind.startswith("sh")]
    assert len(LINES) >= 25, [line.id for line in LINES]
    assert len(fenced) >= 15, [line.id for line in fenced]
    assert by_file["k8s/README.md"] >= 5, by_file
    commands = {tuple(line.args[:2]) for line in fenced}
    for expected in [("login", "-g"), ("invoke", "greyscale"), ("list",), ("describe", "greyscale"),
                     ("deploy", "-f"), ("remove", "get-object"), ("logs", "greyscale"),
                     ("secret", "create"), ("secret", "list"), ("secret", "remove"),
                     ("up", "-f"), ("new", "--lang")]:
        assert any(c[:len(expected)] == expected for c in commands), (expected, commands)


# ------------------------------------------------------------------ the checker fails

@pytest.mark.parametrize("command, expected", [
    ("faas-cli up --skip-build", "unknown flag: --skip-build"),
    ("faas-cli up --skip-build --skip-push", "unknown flag: --skip-build"),
    ("faas-cli logs greyscale --tail 20", "accepts at most 1 arg(s), received 2"),
    ("faas-cli logs greyscale --follow", "unknown flag: --follow"),
    ("faas-cli deploy-all -f stack.yml", 'unknown command "deploy-all" for "faas-cli"'),
    ("faas-cli secret bogus", 'no subcommand "bogus"'),
    ("faas-cli logs greyscale --lines", "flag needs an argument: --lines"),
    ("faas-cli logs greyscale --lines=twenty", 'invalid argument "twenty" for "--lines"'),
    ("faas-cli logs greyscale --tail=20", 'invalid argument "20" for "--tail"'),
    ("faas-cli login -x", "unknown shorthand flag: 'x' in -x"),
    ("faas-cli deploy -g", "flag needs an argument: 'g' in -g"),
    ("faas-cli logs", "needs at least 1 argument(s)"),
    ("faas-cli secret create a b --from-literal x", "takes at most 1 argument(s)"),
    ("faas-cli secret seal", "accepts 1 arg(s), received 0"),
    ("faas-cli completion", 'required flag(s) "shell" not set'),
    ("faas-cli push --gateway http://127.0.0.1:8080", "unknown flag: --gateway"),
    ("faas-cli local-run a b", "takes at most 1 argument(s)"),
])
def test_the_checker_refuses(command, expected):
    problems = fcl.check(SPEC, fcl.faas_cli_commands(command)[0])
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("command", [
    "faas-cli logs greyscale --lines 20",
    "faas-cli logs greyscale --lines=20 --tail=false",
    "faas-cli logs -t=false -n openfaas-fn greyscale",
    "faas-cli logs -tg http://127.0.0.1:8080 greyscale",
    "faas-cli -f stack.yml deploy --filter greyscale",
    "faas-cli deploy --yaml=stack.yml --regex 'grey.*' --envsubst=false",
    "faas-cli up --skip-push -b KEY=value --gateway http://127.0.0.1:8080 -e a=b --tag sha",
    "faas-cli up -f stack.yml --filter greyscale --label com.openfaas.scale.min=1",
    "faas-cli local-run greyscale -p 0 --build=false -e port=8081",
    "faas-cli secret create api-token --from-file=./token --trim=false -n openfaas-fn",
    "faas-cli secret rm api-token",
    "faas-cli ls -v",
    "faas-cli ns create dev --label a=b",
    "faas-cli template store pull golang-middleware --overwrite=false",
    "faas-cli template pull stack",
    "faas-cli store list -u https://example.com/store.json",
    "faas-cli new --list",
    "faas-cli login -u admin -s --timeout 10s",
    "faas-cli invoke greyscale -H 'Content-Type: image/jpeg' -m PUT",
    "faas-cli describe greyscale -- -dash-named",
    "faas-cli build --help",
])
def test_the_checker_accepts(command):
    assert fcl.check(SPEC, fcl.faas_cli_commands(command)[0]) == []


# ------------------------------------------------------------------ the extraction

SAMPLE = """\
Prose with `faas-cli logs fn --lines 5` and `faas-cli secret create`, and
`kubectl get pods`, and a span
`faas-cli up -f stack.yml
--filter <fn>` over two lines.

```sh
cat pw | faas-cli login -u admin --password-stdin   # a comment with faas-cli words
REGISTRY=ghcr.io/<you> TAG=0.1.0 faas-cli up -f stack.yml
make build && faas-cli deploy -f stack.yml ; echo done
faas-cli invoke greyscale < cat.jpg > grey.jpg 2>/dev/null
faas-cli describe greyscale \\
  --gateway http://127.0.0.1:8080
faas-cli list  # or: faas-cli ls --verbose
echo "faas-cli in a string" | wc -l
```

```python
faas-cli not shell
```

```text
faas-cli not shell either
```
"""


def test_the_extraction_splits_shell_lines():
    found = [(line.lineno, line.kind, line.args) for line in fcl.extract(SAMPLE, "SAMPLE.md")]
    assert found == [
        (1, "inline", ["logs", "fn", "--lines", "5"]),
        (1, "inline", ["secret", "create"]),
        (3, "inline", ["up", "-f", "stack.yml", "--filter", "<fn>"]),
        (7, "sh", ["login", "-u", "admin", "--password-stdin"]),
        (8, "sh", ["up", "-f", "stack.yml"]),
        (9, "sh", ["deploy", "-f", "stack.yml"]),
        (10, "sh", ["invoke", "greyscale"]),
        (11, "sh", ["describe", "greyscale", "--gateway", "http://127.0.0.1:8080"]),
        (13, "sh", ["list"]),
        (13, "sh # or:", ["ls", "--verbose"]),
    ]


def test_a_mention_names_a_command_and_is_not_counted():
    mention = fcl.Line("x.md", 1, "inline", "faas-cli secret create", ["secret", "create"])
    assert fcl.check_line(SPEC, mention) == []
    typo = fcl.Line("x.md", 1, "inline", "faas-cli secrets create", ["secrets", "create"])
    assert fcl.check_line(SPEC, typo), "an unknown command is refused in prose too"
    run = fcl.Line("x.md", 1, "sh", "faas-cli secret create", ["secret", "create"])
    assert fcl.check_line(SPEC, run), "in a shell block the name is required"


def test_unbalanced_quotes_are_reported():
    [line] = fcl.extract("```sh\nfaas-cli invoke 'greyscale\n```\n", "q.md")
    assert fcl.check_line(SPEC, line) == [line.error] and "cannot split" in line.error


# ------------------------------------------------------------------ the recorded data

def _nodes(node):
    yield node
    for name, child in node.children.items():
        if child.name == name:  # not an alias
            yield from _nodes(child)


def test_the_recorded_data_is_coherent():
    source = SPEC["source"]
    assert source["repo"] == "openfaas/faas-cli" and SPEC["note"]
    for read in source["read_from_openfaas_faas_cli"]:
        assert read["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", read["commit"]), read
    assert re.fullmatch(r"[0-9a-f]{40}", source["snapshot"]["commit"])
    nodes = list(_nodes(fcl.root(SPEC)))
    assert len(nodes) >= 50, len(nodes)
    for node in nodes:
        flags = node.flags()
        for name, flag in flags.items():
            assert re.fullmatch(r"[a-z][a-z0-9-]*", name), (node.path, name)
            assert flag["shorthand"] is None or re.fullmatch(r"[A-Za-z]", flag["shorthand"]), (node.path, name)
            assert flag["takes_value"] == (flag["type"] != "bool"), (node.path, name)
        shorthands = collections.Counter(f["shorthand"] for f in flags.values() if f["shorthand"])
        # pflag panics at start-up when two flags of one command share a shorthand.
        assert all(n == 1 for n in shorthands.values()), (node.path, shorthands)
        fcl._cobra_args(node.data.get("args"), 0, node)  # every rule is one cobra has
        if not node.runnable:
            assert node.children, node.path


def test_the_flags_the_readme_fixes_rest_on():
    logs = fcl.lookup(SPEC, ["logs"]).flags()
    assert logs["tail"] == {"shorthand": "t", "type": "bool", "takes_value": False, "default": "true"}
    assert logs["lines"]["type"] == "int" and logs["lines"]["default"] == "-1"
    up = fcl.lookup(SPEC, ["up"]).flags()
    assert {"skip-push", "skip-deploy"} <= set(up) and "skip-build" not in up
    assert {"gateway", "filter", "yaml", "build-arg", "parallel"} <= set(up)

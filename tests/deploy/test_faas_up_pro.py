"""k8s/faas-up-pro.sh --dry-run: one `faas-cli up` per function of the stack, with that
function's com.openfaas.scale.* annotations as --label flags (keys sorted), and the other
arguments passed on to faas-cli.

The script reads the stack with `greyfaas stack pro-labels` ($GREYFAAS picks the binary:
the one stack_support uses); the expected commands come from `greyfaas stack show`.
"""

import copy
import os
import shlex
import subprocess

import pytest

import k8s_checks
import stack_support as ss
from stack_support import REPO_ROOT

UP_PRO = REPO_ROOT / "k8s" / "faas-up-pro.sh"
EXTRA = ["--skip-push", "--tag=sha", "--gateway", "http://gw.example:8080",
         "--build-arg", "NOTE=two words"]


@pytest.fixture(scope="module")
def shown():
    return ss.show(REPO_ROOT / "stack.yml")


def up_pro(*args, stack_file="stack.yml"):
    """`bash k8s/faas-up-pro.sh -f STACK_FILE --dry-run ARGS...` from the repository root:
    (exit code, commands parsed with shlex, stderr)."""
    done = subprocess.run(["bash", str(UP_PRO), "-f", str(stack_file), "--dry-run", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env=ss.clean_env(GREYFAAS=ss.greyfaas_bin()))
    return done.returncode, [shlex.split(ln) for ln in done.stdout.splitlines() if ln.strip()], \
        done.stdout, done.stderr


def expected(stack, stack_file, functions, extra):
    """The faas-cli commands for `functions` of `stack`, in name order."""
    commands = []
    for fn in sorted(functions):
        annotations = stack["functions"][fn].get("annotations") or {}
        cmd = ["faas-cli", "up", "-f", str(stack_file), "--filter", fn]
        for key in sorted(annotations):
            if key.startswith("com.openfaas.scale."):
                cmd += ["--label", "%s=%s" % (key, annotations[key])]
        commands.append(cmd + list(extra))
    return commands


def test_one_command_per_function(shown):
    rc, commands, _, err = up_pro(*EXTRA)
    assert rc == 0, err
    assert sorted(shown["functions"]) == sorted(k8s_checks.FUNCTIONS)
    assert commands == expected(shown, "stack.yml", shown["functions"], EXTRA)
    # Every function has Pro scale settings to pass on.
    assert all("--label" in cmd for cmd in commands), commands


@pytest.mark.parametrize("glob, functions", [(fn, [fn]) for fn in k8s_checks.FUNCTIONS] + [
    ("g*", ["gallery", "get-object", "greyscale"]), ("*-*", ["fetch-incoming", "get-object"])])
def test_filter_selects(glob, functions, shown):
    rc, commands, _, err = up_pro("--filter", glob, "--skip-push")
    assert rc == 0, err
    assert commands == expected(shown, "stack.yml", functions, ["--skip-push"])


def test_filter_matching_nothing_fails():
    rc, _, out, err = up_pro("--filter", "no-such-function")
    assert rc != 0
    assert out == ""
    assert "no-such-function" in err


def test_labels_follow_the_stack(shown, tmp_path):
    """A stack with other annotations gives other labels: nothing is fixed in the script."""
    stack = copy.deepcopy(shown)
    functions = stack["functions"]
    functions["gallery"]["annotations"]["com.openfaas.scale.zero"] = "true"
    functions["fetch-incoming"]["annotations"]["com.openfaas.scale.target"] = "7"
    functions["get-object"]["annotations"] = {
        k: v for k, v in functions["get-object"]["annotations"].items()
        if not k.startswith("com.openfaas.scale.")}
    functions["greyscale"]["annotations"]["not.a.scale.key"] = "x"
    stack_file = ss.write_stack(stack, tmp_path / "other.yml")
    rc, commands, _, err = up_pro("--skip-push", stack_file=stack_file)
    assert rc == 0, err
    want = expected(stack, stack_file, functions, ["--skip-push"])
    assert commands == want
    assert want != expected(shown, stack_file, functions, ["--skip-push"])
    assert "--label" not in commands[[c[5] for c in commands].index("get-object")]


def test_missing_stack_file_fails(tmp_path):
    rc, _, out, err = up_pro(stack_file=tmp_path / "none.yml")
    assert rc != 0 and out == ""
    assert os.fspath(tmp_path / "none.yml") in err

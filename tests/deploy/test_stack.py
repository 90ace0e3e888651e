"""stack.yml: its shape, greyfaas's own checks of its settings, and the repository rules.

The stack comes from `greyfaas stack -f stack.yml show` (Python never parses stack.yml);
the rules are in stack_support.py. Each rule must hold for the real stack, and every
breakage below, applied to a copy of the stack, must make its rule report a problem.
"""

import copy
import json
import re

import jsonschema
import pytest
import yaml

import k8s_checks
import stack_support as ss
from stack_support import REPO_ROOT

STACK_FILE = REPO_ROOT / "stack.yml"
SCHEMA_FILE = REPO_ROOT / "tests" / "deploy" / "stack.schema.json"
FUNCTIONS = k8s_checks.FUNCTIONS


@pytest.fixture(scope="module")
def shown():
    """stack.yml as faas-cli reads it, with REGISTRY, TAG and OPENFAAS_URL unset."""
    return ss.show(STACK_FILE)


@pytest.fixture
def stack(shown):
    """A copy of the stack a test may change."""
    return copy.deepcopy(shown)


@pytest.fixture
def ctx(rendered, repo_root):
    return ss.load_context(rendered.base, FUNCTIONS, repo_root)


@pytest.fixture(scope="module")
def upstream_timeout():
    """The gateway's upstream timeout, as k8s/openfaas-values.yaml sets it (Helm's 1m
    when it does not): greyfaas parses it."""
    with open(REPO_ROOT / "k8s" / "openfaas-values.yaml") as f:
        values = yaml.safe_load(f) or {}
    return str((values.get("gateway") or {}).get("upstreamTimeout") or "1m")


@pytest.fixture(scope="module")
def schema():
    with open(SCHEMA_FILE) as f:
        return json.load(f)


# --------------------------------------------------------------------------- the rules

@pytest.mark.parametrize("rule", ss.STACK_RULES, ids=lambda r: r.__name__)
def test_stack_rule(rule, stack, ctx):
    assert rule(stack, ctx) == []


@pytest.mark.parametrize("fn", FUNCTIONS)
@pytest.mark.parametrize("rule", ss.FUNCTION_RULES, ids=lambda r: r.__name__)
def test_function_rule(rule, fn, stack, ctx):
    assert fn in stack["functions"], "%s is not in stack.yml" % fn
    assert rule(fn, stack["functions"][fn], stack, ctx) == []


def test_variables_set_the_images():
    custom = ss.show(STACK_FILE, env=ss.clean_env(REGISTRY="registry.example:5000/team",
                                                 TAG="abc123"))
    images = {fn: spec.get("image") for fn, spec in custom["functions"].items()}
    assert images == {fn: "registry.example:5000/team/%s:abc123" % fn for fn in images}
    assert sorted(images) == sorted(FUNCTIONS)


def test_openfaas_url_sets_the_gateway():
    custom = ss.show(STACK_FILE, env=ss.clean_env(OPENFAAS_URL="https://gw.example"))
    assert custom["provider"]["gateway"] == "https://gw.example"


# --------------------------------------------------------------------------- greyfaas stack check

SUMMARY = re.compile(r"stack: (\d+) checks passed")


def test_greyfaas_stack_check(upstream_timeout):
    done = ss.greyfaas_stack(STACK_FILE, "check", "--upstream-timeout", upstream_timeout)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines and SUMMARY.fullmatch(lines[-1]), lines[-1:]
    assert int(SUMMARY.fullmatch(lines[-1]).group(1)) > 0
    assert not [ln for ln in lines if ln.startswith("FAIL")]


def _env(fn, **changes):
    def apply(d):
        env = d["functions"][fn]["environment"]
        for k, v in changes.items():
            if v is None:
                env.pop(k)
            else:
                env[k] = v
    return apply


def _rename_env(fn, old, new):
    def apply(d):
        env = d["functions"][fn]["environment"]
        env[new] = env.pop(old)
    return apply


def _labels(fn, **changes):
    def apply(d):
        d["functions"][fn].setdefault("labels", {}).update(
            {"com.openfaas.scale." + k.replace("_", "-"): v for k, v in changes.items()})
    return apply


def _drop_scale_target(fn):
    def apply(d):
        d["functions"][fn]["annotations"].pop("com.openfaas.scale.target")
    return apply


def _rename_secret(fn, old, new):
    def apply(d):
        secrets = d["functions"][fn]["secrets"]
        secrets[secrets.index(old)] = new
    return apply


def _both(*fs):
    def apply(d):
        for f in fs:
            f(d)
    return apply


MIN_MAX = "labels 1 <= com.openfaas.scale.min"
CE_REJECTS = "no label OpenFaaS CE rejects"
# (id, breakage, what the FAIL lines of `greyfaas stack check` must name)
CHECK_BREAKAGES = [
    ("misspelt environment key and exec_timeout above upstream",
     _both(_rename_env("greyscale", "max_pixels", "max_pixel"),
           _env("greyscale", exec_timeout="2h", write_timeout="2h")),
     ["greyscale: environment max_pixel is read", "greyscale: 0 < exec_timeout"]),
    ("misspelt environment key", _rename_env("fetch-incoming", "max_bytes", "max_byte"),
     ["fetch-incoming: environment max_byte is read"]),
    ("exec_timeout above upstream", _env("gallery", exec_timeout="2h", write_timeout="2h"),
     ["gallery: 0 < exec_timeout"]),
    ("write_timeout below exec_timeout", _env("greyscale", write_timeout="20s"),
     ["greyscale: write_timeout >= exec_timeout"]),
    ("duration that does not parse", _env("get-object", read_timeout="ten"),
     ["get-object: the runtime's settings parse"]),
    ("long healthcheck_interval", _env("greyscale", healthcheck_interval="20s"),
     ["greyscale: 0 < healthcheck_interval"]),
    ("secret missing", lambda d: d["functions"]["greyscale"].__setitem__("secrets", ["s3-access-key"]),
     ["greyscale: mounts the store's secret s3-secret-key"]),
    ("no secrets", lambda d: d["functions"]["gallery"].pop("secrets"),
     ["gallery: mounts the store's secret s3-access-key",
      "gallery: mounts the store's secret s3-secret-key"]),
    ("misspelt secret", _rename_secret("gallery", "s3-secret-key", "s3-secret-keys"),
     ["gallery: secret s3-secret-keys is read", "gallery: mounts the store's secret s3-secret-key"]),
    ("allow_private_networks", _env("fetch-incoming", allow_private_networks="true"),
     ["fetch-incoming: allow_private_networks"]),
    ("scale.max 6", _labels("greyscale", max="6"), ["greyscale: " + MIN_MAX]),
    ("scale.min 0", _labels("greyscale", min="0"), ["greyscale: " + MIN_MAX]),
    ("scale.min above max", _labels("gallery", min="2", max="1"), ["gallery: scale labels parse"]),
    ("target as a label", _labels("greyscale", target="8"), ["greyscale: " + CE_REJECTS]),
    ("type as a label", _labels("greyscale", type="rps"), ["greyscale: " + CE_REJECTS]),
    ("zero as a label", _labels("get-object", zero="true"), ["get-object: " + CE_REJECTS]),
    ("zero-duration as a label", _labels("get-object", zero_duration="5m"),
     ["get-object: " + CE_REJECTS]),
    ("no scale target", _drop_scale_target("gallery"),
     ["gallery: scaling settings (labels, then annotations) parse with a target"]),
]


@pytest.mark.parametrize("breakage, named", [b[1:] for b in CHECK_BREAKAGES],
                         ids=[b[0] for b in CHECK_BREAKAGES])
def test_greyfaas_stack_check_names_a_broken_copy(breakage, named, stack, tmp_path,
                                                  upstream_timeout):
    breakage(stack)
    broken = ss.write_stack(stack, tmp_path / "stack.yml")
    done = ss.greyfaas_stack(broken, "check", "--upstream-timeout", upstream_timeout)
    lines = done.stdout.splitlines()
    failed = [ln for ln in lines if ln.startswith("FAIL ")]
    assert done.returncode == 1, done.stdout + done.stderr
    assert lines and lines[-1].startswith("stack: FAILED"), lines[-1:]
    for what in named:
        assert any(ln.startswith("FAIL " + what) for ln in failed), (what, failed)


def test_keda_objects_match_the_stack():
    """k8s/keda/ is what `greyfaas stack keda` generates from stack.yml (thresholds =
    target x target-proportion)."""
    done = ss.greyfaas_stack(STACK_FILE, "keda", "--dir", "k8s/keda", "--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_keda_check_sees_a_changed_target(stack, tmp_path):
    stack["functions"]["greyscale"]["annotations"]["com.openfaas.scale.target"] = "7"
    broken = ss.write_stack(stack, tmp_path / "stack.yml")
    done = ss.greyfaas_stack(broken, "keda", "--dir", str(REPO_ROOT / "k8s" / "keda"), "--check")
    assert done.returncode != 0, done.stdout + done.stderr
    assert "greyscale" in done.stdout + done.stderr


# --------------------------------------------------------------------------- the schema

def test_schema_is_valid_and_matches_the_stack(schema, stack):
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(stack)]
    assert errors == []


def _set(*path_value):
    """Sets stack[path...] to the value (the last argument); _DELETE deletes it."""
    *parents, last, value = path_value

    def apply(d):
        for key in parents:
            d = d[key]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value
    return apply


_DELETE = object()
F = "functions"
WRONG_SHAPES = [
    ("environment value a number", _set(F, "greyscale", "environment", "max_pixels", 50000000)),
    ("environment a list", _set(F, "get-object", "environment", ["a=b"])),
    ("secrets a string", _set(F, "gallery", "secrets", "s3-access-key")),
    ("label value a number", _set(F, "greyscale", "labels", "com.openfaas.scale.max", 5)),
    ("annotation value a boolean",
     _set(F, "greyscale", "annotations", "greyfaas.idempotent", True)),
    ("readonly_root_filesystem a string", _set(F, "greyscale", "readonly_root_filesystem", "true")),
    ("limits.cpu a number", _set(F, "fetch-incoming", "limits", "cpu", 1)),
    ("limits.memory not a quantity", _set(F, "fetch-incoming", "limits", "memory", "lots")),
    ("no image", _set(F, "greyscale", "image", _DELETE)),
    ("no provider", _set("provider", _DELETE)),
    ("provider not openfaas", _set("provider", "name", "faasd")),
    ("version 2.0", _set("version", "2.0")),
    ("configuration.copy a string", _set("configuration", "copy", "./crates")),
    ("function name not a DNS label", lambda d: d["functions"].__setitem__(
        "Grey_Scale", d["functions"].pop("greyscale"))),
]


@pytest.mark.parametrize("breakage", [w[1] for w in WRONG_SHAPES],
                         ids=[w[0] for w in WRONG_SHAPES])
def test_schema_rejects_wrong_shapes(breakage, schema, stack):
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(stack)), "the real stack must pass first"
    breakage(stack)
    assert list(validator.iter_errors(stack)), "the schema accepts the broken stack"


# --------------------------------------------------------------------------- breakages caught

def _fn(d, name="greyscale"):
    return d["functions"][name]


# (id, breakage applied to a copy of the stack, the rule that must report it)
BREAKAGES = [
    ("version 2.0", lambda d: d.__setitem__("version", "2.0"), ss.version_problems),
    ("provider faas", lambda d: d["provider"].__setitem__("name", "faas"), ss.provider_problems),
    ("gateway default changed", lambda d: d["provider"].__setitem__("gateway", "http://gw:8080"),
     ss.provider_problems),
    ("copy ../", lambda d: d["configuration"].__setitem__("copy", ["../"]), ss.copy_problems),
    ("copy the project root", lambda d: d["configuration"].__setitem__("copy", ["./"]),
     ss.copy_problems),
    ("copy a missing path", lambda d: d["configuration"].__setitem__("copy", ["./nope"]),
     ss.copy_problems),
    ("no configuration", lambda d: d.pop("configuration"), ss.copy_problems),
    ("template from the network", lambda d: d["configuration"].__setitem__(
        "templates", [{"name": "rust-hyper", "source": "https://x"}]), ss.template_source_problems),
    ("a function removed", lambda d: d["functions"].pop("get-object"), ss.function_set_problems),
    ("a function added", lambda d: d["functions"].__setitem__(
        "extra", copy.deepcopy(_fn(d))), ss.function_set_problems),
    ("bare $VAR left", lambda d: _fn(d).__setitem__("image", "$REGISTRY/greyscale:0.1.0"),
     ss.substituted_problems),
    ("bad function name", lambda d: d["functions"].__setitem__(
        "Grey_Scale", d["functions"].pop("greyscale")), ss.name_problems),
    ("function name too long", lambda d: d["functions"].__setitem__(
        "g" * 64, d["functions"].pop("greyscale")), ss.name_problems),
    ("unknown lang", lambda d: _fn(d).__setitem__("lang", "rust"), ss.template_problems),
    ("lang a path", lambda d: _fn(d).__setitem__("lang", "../template/rust-hyper"),
     ss.template_problems),
    ("missing handler", lambda d: _fn(d).__setitem__("handler", "./functions/nope"),
     ss.handler_problems),
    ("handler outside the project", lambda d: _fn(d).__setitem__("handler", "../greyscale"),
     ss.handler_problems),
    ("handler of another function",
     lambda d: _fn(d).__setitem__("handler", "./functions/get-object"),
     ss.handler_problems),
    ("image latest", lambda d: _fn(d).__setitem__("image", "ghcr.io/greyfaas/greyscale:latest"),
     ss.image_problems),
    ("image of another function",
     lambda d: _fn(d).__setitem__("image", "ghcr.io/greyfaas/gallery:0.1.0"),
     ss.image_problems),
    ("shared crates not copied", lambda d: d["configuration"].__setitem__("copy", ["./functions"]),
     ss.workspace_crate_problems),
    ("undocumented secret", lambda d: _fn(d)["secrets"].append("api-token"),
     ss.secret_doc_problems),
    ("s3_endpoint short name", lambda d: _fn(d)["environment"].__setitem__(
        "s3_endpoint", "http://minio-api:9000"), ss.s3_endpoint_problems),
    ("s3_endpoint headless service", lambda d: _fn(d)["environment"].__setitem__(
        "s3_endpoint", "http://minio.greyfaas.svc.cluster.local:9000"), ss.s3_endpoint_problems),
    ("s3_endpoint unknown service", lambda d: _fn(d)["environment"].__setitem__(
        "s3_endpoint", "http://s3.greyfaas.svc.cluster.local:9000"), ss.s3_endpoint_problems),
    ("s3_endpoint wrong port", lambda d: _fn(d)["environment"].__setitem__(
        "s3_endpoint", "http://minio-api.greyfaas.svc.cluster.local:9001"),
     ss.s3_endpoint_problems),
    ("s3_endpoint missing", lambda d: _fn(d, "get-object")["environment"].pop("s3_endpoint"),
     ss.s3_endpoint_problems),
    ("gateway_url short", lambda d: _fn(d)["environment"].__setitem__(
        "gateway_url", "http://gateway.openfaas:8080"), ss.gateway_url_problems),
    ("gateway_url local", lambda d: _fn(d, "fetch-incoming")["environment"].__setitem__(
        "gateway_url", "http://127.0.0.1:8080"), ss.gateway_url_problems),
    ("target 0", lambda d: _fn(d)["annotations"].__setitem__("com.openfaas.scale.target", "0"),
     ss.pro_annotation_problems),
    ("target missing", lambda d: _fn(d)["annotations"].pop("com.openfaas.scale.target"),
     ss.pro_annotation_problems),
    ("type unknown",
     lambda d: _fn(d)["annotations"].__setitem__("com.openfaas.scale.type", "magic"),
     ss.pro_annotation_problems),
    ("proportion 1.5", lambda d: _fn(d)["annotations"].__setitem__(
        "com.openfaas.scale.target-proportion", "1.5"), ss.pro_annotation_problems),
    ("proportion 0", lambda d: _fn(d)["annotations"].__setitem__(
        "com.openfaas.scale.target-proportion", "0"), ss.pro_annotation_problems),
    ("no annotations", lambda d: _fn(d, "gallery").pop("annotations"), ss.pro_annotation_problems),
    ("gke annotation", lambda d: _fn(d)["annotations"].__setitem__("cloud.google.com/gke.io", "x"),
     ss.ce_annotation_problems),
    ("aws annotation", lambda d: _fn(d)["annotations"].__setitem__(
        "eks.amazonaws.com/role-arn", "x"), ss.ce_annotation_problems),
    ("two topics", lambda d: _fn(d)["annotations"].__setitem__("topic", "a,b"),
     ss.ce_annotation_problems),
    ("no limits", lambda d: _fn(d).pop("limits"), ss.resource_problems),
    ("no cpu request", lambda d: _fn(d)["requests"].pop("cpu"), ss.resource_problems),
    ("memory request above limit", lambda d: _fn(d)["requests"].__setitem__("memory", "64Gi"),
     ss.resource_problems),
    ("cpu request above limit", lambda d: _fn(d, "get-object")["requests"].__setitem__("cpu", "2"),
     ss.resource_problems),
    ("greyscale memory too small for max_pixels", lambda d: _fn(d)["limits"].__setitem__(
        "memory", "128Mi"), ss.resource_problems),
    ("writable root fs", lambda d: _fn(d).__setitem__("readonly_root_filesystem", False),
     ss.readonly_root_problems),
    ("readonly as a string", lambda d: _fn(d).__setitem__("readonly_root_filesystem", "true"),
     ss.readonly_root_problems),
]


@pytest.mark.parametrize("breakage, rule", [b[1:] for b in BREAKAGES],
                         ids=[b[0] for b in BREAKAGES])
def test_breakage_is_caught(breakage, rule, stack, ctx):
    assert ss.problems(rule, stack, ctx) == [], "the rule must hold for the real stack first"
    breakage(stack)
    assert ss.problems(rule, stack, ctx), "%s does not see it" % rule.__name__


def test_every_rule_has_a_breakage():
    tested = {b[2] for b in BREAKAGES}
    assert [r.__name__ for r in ss.STACK_RULES + ss.FUNCTION_RULES if r not in tested] == []

"""stack.yml as the deployment tests see it, and greyfaas's repository rules for it.

Python never parses stack.yml: `greyfaas stack -f FILE show` reads it (faas-cli's
`${VAR:-default}` substitution on the raw text, then YAML) and prints it as JSON, and the
tests work on that dict. The greyfaas binary is $GREYFAAS_BIN, else target/debug/greyfaas
of this checkout (`cargo build -p greyfaas` makes it).

What the Rust code that reads the settings checks (`greyfaas stack check`: environment
keys and secrets read, the runtime's timeouts, scale labels CE accepts,
allow_private_networks) is
not repeated here. The rules below are about the repository around the stack: templates,
handler crates, images, configuration.copy, secrets and their documentation, the
Services rendered from k8s/, the Pro scale annotations and the pods' resources.

Every rule is a plain function returning a list of problems (empty when it holds), so
test_stack.py can assert it on the real stack and on copies broken on purpose:
  - STACK_RULES take (stack, ctx);
  - FUNCTION_RULES take (name, spec, stack, ctx), one function of the stack.
`ctx` is a Context: what the rules compare the stack with.
"""

import dataclasses
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

from k8s_checks import as_number

REPO_ROOT = Path(__file__).resolve().parents[2]
GATEWAY_URL = "http://gateway.openfaas.svc.cluster.local:8080"
LOCAL_GATEWAY = "http://127.0.0.1:8080"  # provider.gateway when OPENFAAS_URL is unset
IMAGE_DEFAULT = "ghcr.io/greyfaas/%s:0.1.0"  # ${REGISTRY:-ghcr.io/greyfaas}/<fn>:${TAG:-0.1.0}
PRO_SCALE_TYPES = ("rps", "capacity", "cpu", "queue")
STORE_CRATE = "greyfaas-store"
RUNTIME_CRATE = "openfaas-runtime"  # the template's plan.sh maps it itself
# The variables stack.yml substitutes: unset, the stack's defaults apply.
STACK_VARIABLES = ("REGISTRY", "TAG", "OPENFAAS_URL")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SERVICE_URL = re.compile(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)")


# --------------------------------------------------------------------------- greyfaas

def greyfaas_bin():
    """The greyfaas binary the tests run."""
    return os.environ.get("GREYFAAS_BIN") or str(REPO_ROOT / "target" / "debug" / "greyfaas")


def clean_env(**overrides):
    """The process environment without the stack's variables, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
    env.update(overrides)
    return env


def greyfaas_stack(stack_file, *args, env=None):
    """`greyfaas stack -f STACK_FILE ARGS...` run from the repository root."""
    binary = greyfaas_bin()
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError("no greyfaas binary at %s: run `cargo build -p greyfaas`, or set "
                                "GREYFAAS_BIN" % binary)
    return subprocess.run([binary, "stack", "-f", str(stack_file), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, env=env if env is not None
                          else clean_env(), timeout=120)


def show(stack_file, env=None):
    """The stack as faas-cli reads it, from `greyfaas stack -f STACK_FILE show`."""
    done = greyfaas_stack(stack_file, "show", env=env)
    if done.returncode != 0:
        raise RuntimeError("greyfaas stack -f %s show failed (exit %d): %s"
                           % (stack_file, done.returncode, done.stderr.strip()))
    return json.loads(done.stdout)


def write_stack(stack, path):
    """Writes a stack dict as a stack file greyfaas (and faas-cli) can read. JSON is YAML;
    handlers become absolute, so the copy reads the repository's handler crates."""
    stack = json.loads(json.dumps(stack))
    for spec in (stack.get("functions") or {}).values():
        if isinstance(spec, dict) and isinstance(spec.get("handler"), str):
            spec["handler"] = str((REPO_ROOT / spec["handler"]).resolve())
    Path(path).write_text(json.dumps(stack, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- context

@dataclasses.dataclass
class Context:
    """What the rules compare the stack with."""
    root: Path
    services: dict        # (name, namespace) -> rendered Service object
    readme: str           # k8s/README.md
    workspace_deps: dict  # [workspace.dependencies] of Cargo.toml: name -> path
    functions: tuple      # the functions the project has


def load_context(k8s_objects, functions, root=REPO_ROOT):
    with open(root / "k8s" / "README.md") as f:
        readme = f.read()
    with open(root / "Cargo.toml", "rb") as f:
        workspace = tomllib.load(f).get("workspace") or {}
    deps = {name: (value or {}).get("path")
            for name, value in (workspace.get("dependencies") or {}).items()
            if isinstance(value, dict)}
    services = {}
    for o in k8s_objects:
        if isinstance(o, dict) and o.get("kind") == "Service":
            meta = as_dict(o.get("metadata"))
            services[(meta.get("name"), meta.get("namespace"))] = o
    return Context(Path(root), services, readme, deps, tuple(functions))


# --------------------------------------------------------------------------- helpers

class Problems(list):
    def expect(self, condition, message):
        if not condition:
            self.append(message)
        return bool(condition)


def as_dict(value):
    return value if isinstance(value, dict) else {}


def memory_bytes(quantity):
    """A Kubernetes memory quantity in bytes, or None."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?", str(quantity).strip())
    if not m:
        return None
    mult = {None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
    return float(m.group(1)) * mult


def cpu_cores(quantity):
    """A Kubernetes CPU quantity in cores, or None."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(m)?", str(quantity).strip())
    if not m:
        return None
    return float(m.group(1)) / (1000 if m.group(2) else 1)


def inside_project(ctx, path):
    """`path` relative to the project root, or None when it is the root or outside it."""
    if not isinstance(path, str) or not path:
        return None
    rel = os.path.relpath(os.path.normpath(os.path.join(ctx.root, path)), ctx.root)
    return None if rel == "." or rel == ".." or rel.startswith("../") else rel


def copy_paths(stack):
    conf = as_dict(stack.get("configuration"))
    copies = conf.get("copy") or []
    return copies if isinstance(copies, list) else [copies]


def handler_manifest(ctx, spec):
    """The handler's Cargo.toml as a dict, or None when there is none in the project."""
    rel = inside_project(ctx, spec.get("handler"))
    cargo = ctx.root / rel / "Cargo.toml" if rel else None
    if not cargo or not cargo.is_file():
        return None
    with open(cargo, "rb") as f:
        return tomllib.load(f)


def dependencies(manifest):
    deps = {}
    for section in ("dependencies", "dev-dependencies", "build-dependencies"):
        deps.update((manifest or {}).get(section) or {})
    return deps


def environment(spec):
    return as_dict(spec.get("environment"))


def strings(value):
    """The strings in a value: the value itself, dict values, list items, recursively."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# --------------------------------------------------------------------------- stack rules

def version_problems(stack, ctx):
    version = stack.get("version", "1.0")
    return [] if str(version) == "1.0" else ["version is %r, not 1.0" % version]


def provider_problems(stack, ctx):
    p, provider = Problems(), as_dict(stack.get("provider"))
    p.expect(provider.get("name") == "openfaas",
             "provider.name is %r, not openfaas" % provider.get("name"))
    p.expect(provider.get("gateway") == LOCAL_GATEWAY,
             "provider.gateway is %r without OPENFAAS_URL, not %s"
             % (provider.get("gateway"), LOCAL_GATEWAY))
    return p


def copy_problems(stack, ctx):
    """configuration.copy: paths inside the project (not its root) that exist."""
    p, copies = Problems(), copy_paths(stack)
    p.expect(copies, "configuration.copy is empty: the functions' shared crates would be "
             "missing from their build contexts")
    for path in copies:
        rel = inside_project(ctx, path)
        p.expect(rel, "configuration.copy %r is the project root or outside it (faas-cli "
                 "refuses it)" % (path,))
        if rel:
            p.expect((ctx.root / rel).exists(), "configuration.copy %r does not exist" % path)
    return p


def template_source_problems(stack, ctx):
    """configuration.templates pulls nothing from the network."""
    templates = as_dict(stack.get("configuration")).get("templates") or []
    return ["configuration.templates %r has a source: faas-cli would pull it from the network"
            % as_dict(t).get("name") for t in templates if as_dict(t).get("source")]


def function_set_problems(stack, ctx):
    have = sorted(as_dict(stack.get("functions")))
    want = sorted(ctx.functions)
    return [] if have == want else ["functions are %s, not %s" % (have, want)]


def substituted_problems(stack, ctx):
    """No `$` left after substitution: a bare $VAR stays literal in faas-cli."""
    return ["%r still holds a $ after substitution (write ${VAR:-default})" % s
            for s in strings(stack) if "$" in s]


STACK_RULES = [version_problems, provider_problems, copy_problems, template_source_problems,
               function_set_problems, substituted_problems]


# --------------------------------------------------------------------------- function rules

def name_problems(name, spec, stack, ctx):
    ok = len(name) <= 63 and DNS_LABEL.fullmatch(name)
    return [] if ok else ["name %r is not a DNS label" % name]


def template_problems(name, spec, stack, ctx):
    """template/<lang>/ holds template.yml (naming that language) and a Dockerfile."""
    import yaml  # template.yml, not stack.yml
    lang = spec.get("lang")
    if not isinstance(lang, str) or not DNS_LABEL.fullmatch(lang):
        return ["lang %r is not a template name" % (lang,)]
    tdir = ctx.root / "template" / lang
    p = Problems()
    if p.expect((tdir / "template.yml").is_file(), "template/%s/template.yml missing" % lang):
        with open(tdir / "template.yml") as f:
            language = as_dict(yaml.safe_load(f)).get("language")
        p.expect(language == lang, "template/%s/template.yml names language %r" % (lang, language))
    p.expect((tdir / "Dockerfile").is_file(), "template/%s/Dockerfile missing" % lang)
    return p


def handler_problems(name, spec, stack, ctx):
    """The handler is a folder in the project with a Cargo.toml: package <name>, lib handler."""
    manifest = handler_manifest(ctx, spec)
    if manifest is None:
        return ["handler %r is not a folder of the project with a Cargo.toml"
                % (spec.get("handler"),)]
    p = Problems()
    package = as_dict(manifest.get("package")).get("name")
    lib = as_dict(manifest.get("lib")).get("name")
    p.expect(package == name,
             "handler %s: package %r, not %r" % (spec.get("handler"), package, name))
    p.expect(lib == "handler", "handler %s: lib %r, not `handler` (the template's main.rs "
             "calls handler::)" % (spec.get("handler"), lib))
    return p


def image_problems(name, spec, stack, ctx):
    want = IMAGE_DEFAULT % name
    return [] if spec.get("image") == want else \
        ["image %r, not ${REGISTRY:-ghcr.io/greyfaas}/%s:${TAG:-0.1.0} (%s)"
         % (spec.get("image"), name, want)]


def workspace_crate_problems(name, spec, stack, ctx):
    """Every workspace crate the handler inherits (but the runtime) is a crates/<dir> that
    configuration.copy brings into function/crates/<dir> of the build context."""
    p = Problems()
    copies = [inside_project(ctx, c) for c in copy_paths(stack)]
    for dep, value in dependencies(handler_manifest(ctx, spec)).items():
        if dep == RUNTIME_CRATE or not (isinstance(value, dict) and value.get("workspace")):
            continue
        path = ctx.workspace_deps.get(dep) or ""
        p.expect(re.fullmatch(r"crates/[^/]+", path)
                 and any(c and (path == c or path.startswith(c + "/")) for c in copies),
                 "%s (%r) does not reach function/crates/ through configuration.copy %r"
                 % (dep, path, copy_paths(stack)))
    return p


def uses_store(ctx, spec):
    return STORE_CRATE in dependencies(handler_manifest(ctx, spec))


def secret_doc_problems(name, spec, stack, ctx):
    """k8s/README.md creates each secret in openfaas-fn, with kubectl and with faas-cli."""
    p = Problems()
    for s in spec.get("secrets") or []:
        s = str(s)
        p.expect(re.search(r"kubectl -n openfaas-fn create secret generic %s --from-literal=%s="
                           % (re.escape(s), re.escape(s)), ctx.readme),
                 "k8s/README.md does not create secret %s with kubectl in openfaas-fn" % s)
        p.expect(re.search(r"faas-cli secret create %s\b" % re.escape(s), ctx.readme),
                 "k8s/README.md does not create secret %s with faas-cli" % s)
    return p


def s3_endpoint_problems(name, spec, stack, ctx):
    """s3_endpoint is a ClusterIP Service rendered from k8s/, on one of its ports."""
    env = environment(spec)
    if not uses_store(ctx, spec) and "s3_endpoint" not in env:
        return []
    endpoint = str(env.get("s3_endpoint", ""))
    m = SERVICE_URL.fullmatch(endpoint)
    if not m:
        return ["s3_endpoint %r is not http://<service>.<namespace>.svc.cluster.local:<port>"
                % endpoint]
    svc = ctx.services.get((m.group(1), m.group(2)))
    if svc is None:
        return ["s3_endpoint %r: no Service %s in %s rendered from k8s/ (have %s)"
                % (endpoint, m.group(1), m.group(2), sorted(ctx.services))]
    p, svc_spec = Problems(), as_dict(svc.get("spec"))
    ports = [as_dict(port).get("port") for port in svc_spec.get("ports") or []]
    p.expect(int(m.group(3)) in ports, "s3_endpoint %r: Service %s listens on %s"
             % (endpoint, m.group(1), ports))
    p.expect(svc_spec.get("clusterIP") != "None",
             "s3_endpoint %r: Service %s is headless" % (endpoint, m.group(1)))
    return p


def gateway_url_problems(name, spec, stack, ctx):
    """A function that calls the gateway (gateway_url in its environment) calls the
    in-cluster one."""
    env = environment(spec)
    if "gateway_url" not in env:
        return []
    return [] if env["gateway_url"] == GATEWAY_URL else \
        ["gateway_url %r, not the in-cluster gateway %s" % (env["gateway_url"], GATEWAY_URL)]


def pro_annotation_problems(name, spec, stack, ctx):
    """The Pro autoscaler's settings, as annotations: target > 0, a type, 0 < proportion <= 1."""
    p, ann = Problems(), as_dict(spec.get("annotations"))
    target = as_number(ann.get("com.openfaas.scale.target"))
    p.expect(target is not None and target > 0,
             "annotation com.openfaas.scale.target %r is not > 0"
             % ann.get("com.openfaas.scale.target"))
    p.expect(ann.get("com.openfaas.scale.type") in PRO_SCALE_TYPES,
             "annotation com.openfaas.scale.type %r not in %s"
             % (ann.get("com.openfaas.scale.type"), PRO_SCALE_TYPES))
    prop = as_number(ann.get("com.openfaas.scale.target-proportion"))
    p.expect(prop is not None and 0 < prop <= 1,
             "annotation com.openfaas.scale.target-proportion %r is not in (0, 1]"
             % ann.get("com.openfaas.scale.target-proportion"))
    return p


def ce_annotation_problems(name, spec, stack, ctx):
    """No annotation key CE refuses (amazonaws.com, gke.io; `topic` holds one value)."""
    ann = as_dict(spec.get("annotations"))
    p = Problems()
    for key in ann:
        p.expect("amazonaws.com" not in key and "gke.io" not in key,
                 "annotation %s: OpenFaaS CE refuses amazonaws.com and gke.io keys" % key)
    p.expect("," not in str(ann.get("topic", "")),
             "annotation topic %r: CE takes one topic" % ann.get("topic"))
    return p


def resource_problems(name, spec, stack, ctx):
    """limits and requests of memory and cpu, requests <= limits, and a memory limit that
    holds one image at max_pixels (~3 bytes/px, twice)."""
    p = Problems()
    lim, req = as_dict(spec.get("limits")), as_dict(spec.get("requests"))
    mem_l, mem_r = memory_bytes(lim.get("memory", "")), memory_bytes(req.get("memory", ""))
    cpu_l, cpu_r = cpu_cores(lim.get("cpu", "")), cpu_cores(req.get("cpu", ""))
    if not p.expect(None not in (mem_l, mem_r, cpu_l, cpu_r),
                    "limits %r and requests %r must both set memory and cpu" % (lim, req)):
        return p
    p.expect(mem_r <= mem_l, "requests.memory %s > limits.memory %s"
             % (req.get("memory"), lim.get("memory")))
    p.expect(cpu_r <= cpu_l, "requests.cpu %s > limits.cpu %s" % (req.get("cpu"), lim.get("cpu")))
    env = environment(spec)
    if "max_pixels" in env:
        pixels = as_number(env["max_pixels"]) or 0
        p.expect(mem_l >= 6 * pixels, "limits.memory %s (%d B) < 6 x max_pixels %s"
                 % (lim.get("memory"), mem_l, env["max_pixels"]))
    return p


def readonly_root_problems(name, spec, stack, ctx):
    value = spec.get("readonly_root_filesystem")
    return [] if value is True else ["readonly_root_filesystem is %r, not true" % (value,)]


FUNCTION_RULES = [name_problems, template_problems, handler_problems, image_problems,
                  workspace_crate_problems, secret_doc_problems,
                  s3_endpoint_problems, gateway_url_problems, pro_annotation_problems,
                  ce_annotation_problems, resource_problems, readonly_root_problems]


def problems(rule, stack, ctx):
    """What `rule` finds in the whole stack: a function rule runs on every function,
    and its problems are prefixed with the function's name."""
    if rule in STACK_RULES:
        return list(rule(stack, ctx))
    found = []
    for name, spec in as_dict(stack.get("functions")).items():
        found += ["%s: %s" % (name, m) for m in rule(name, as_dict(spec), stack, ctx)]
    return found

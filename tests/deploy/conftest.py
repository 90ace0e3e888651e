"""Shared fixtures of the deployment tests (tests/deploy, run by ./test through .ci/python-env).

- `repo_root`: the checkout's root folder.
- `rendered`: the objects of k8s/ (`base`) and of the KEDA overlay k8s/keda/ (`keda`),
  rendered with `kubectl kustomize` when kubectl exists, else with kustomize.py's fallback
  renderer (`renderer` says which). Rendered once per run; each test gets its own deep
  copy, so a test that breaks objects on purpose cannot disturb another.
- `manifest`: one rendered object; a test that takes it runs once per object, with the
  object's kind, namespace and name as its id.
- `k8s_version`: the Kubernetes API version the schemas are taken from (1.30.0; the
  environment variable K8S_VERSION overrides it).
"""

import copy
import dataclasses
import functools
import os
from pathlib import Path

import pytest

import k8s_checks
import kustomize

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_K8S_VERSION = "1.30.0"


@dataclasses.dataclass
class Rendered:
    """The rendered manifests: k8s/ (base) and k8s/keda/ (keda), and what rendered them."""
    base: list
    keda: list
    renderer: str

    @property
    def objects(self):
        return self.base + self.keda


@functools.cache
def render_manifests():
    """k8s/ and k8s/keda/ rendered once per run (raises kustomize.RenderError)."""
    base, renderer = kustomize.render(REPO_ROOT / "k8s")
    keda, _ = kustomize.render(REPO_ROOT / "k8s" / "keda")
    return Rendered(base, keda, renderer)


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture
def rendered():
    return copy.deepcopy(render_manifests())


@pytest.fixture(scope="session")
def k8s_version():
    return os.environ.get("K8S_VERSION") or DEFAULT_K8S_VERSION


@pytest.fixture
def manifest(rendered, manifest_index):
    return rendered.objects[manifest_index]


def pytest_generate_tests(metafunc):
    """Parametrize `manifest` tests by the rendered objects. When rendering fails, one
    case remains, and the `rendered` fixture reports the error there."""
    if "manifest" not in metafunc.fixturenames:
        return
    try:
        ids = [k8s_checks.object_name(o) for o in render_manifests().objects]
    except kustomize.RenderError:
        ids = ["rendering k8s/ failed"]
    metafunc.parametrize("manifest_index", range(len(ids)), ids=ids)


def pytest_report_header(config):
    renderer = "kubectl (%s)" % kustomize.kubectl_version() if kustomize.kubectl_path() else \
        "the fallback renderer (no kubectl on this machine)"
    k8s_version = os.environ.get("K8S_VERSION") or DEFAULT_K8S_VERSION
    return ["k8s/ rendered with %s; Kubernetes schemas %s" % (renderer, k8s_version)]

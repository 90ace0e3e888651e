"""Rendering the kustomizations of k8s/ into Kubernetes objects.

`kubectl kustomize` does it when kubectl is on PATH. Without kubectl, `render_fallback`
stands in: it supports only kustomizations that list local resources (files or folders
with their own kustomization.yaml), which is all k8s/ uses, and refuses anything else.
test_manifests.py checks that both give the same objects whenever kubectl exists.
"""

import os
import shutil
import subprocess

import yaml

FALLBACK_KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources"}


class RenderError(Exception):
    """A kustomization could not be rendered."""


def load_documents(path):
    """The non-empty YAML documents of one file."""
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def kubectl_path():
    """kubectl's path, or None when it is not installed."""
    return shutil.which("kubectl")


def render_with_kubectl(directory):
    """`kubectl kustomize DIRECTORY` as a list of objects."""
    done = subprocess.run([kubectl_path() or "kubectl", "kustomize", str(directory)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RenderError("kubectl kustomize %s failed: %s" % (directory, done.stderr.strip()))
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def render_fallback(directory):
    """A minimal `kubectl kustomize` for kustomizations that only list local resources."""
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        kustomization = yaml.safe_load(f) or {}
    unsupported = set(kustomization) - FALLBACK_KUSTOMIZE_KEYS
    if unsupported:
        raise RenderError("the fallback renderer supports only %s; %s uses %s: install kubectl"
                          % (sorted(FALLBACK_KUSTOMIZE_KEYS), directory, sorted(unsupported)))
    objects = []
    for resource in kustomization.get("resources") or []:
        path = os.path.join(directory, resource)
        objects += render_fallback(path) if os.path.isdir(path) else load_documents(path)
    return objects


def render(directory):
    """(objects, renderer name): with kubectl when it exists, else with the fallback."""
    if kubectl_path():
        return render_with_kubectl(directory), "kubectl"
    return render_fallback(directory), "fallback"


def kubectl_version():
    """kubectl's client version line, for the test report header."""
    done = subprocess.run([kubectl_path(), "version", "--client"], capture_output=True, text=True)
    return (done.stdout.splitlines() or ["kubectl (version unknown)"])[0]


def canonical(objects):
    """The objects in a comparable form: order of objects and of keys ignored."""
    return sorted(yaml.safe_dump(obj, sort_keys=True) for obj in objects)

"""The Kubernetes manifests of k8s/ and k8s/keda/, rendered without a cluster (conftest.py).

- every object is valid against its schema (Kubernetes OpenAPI, strict; KEDA's CRD models);
- greyfaas's rules (k8s_checks.py) hold: namespaces, MinIO, no credentials, pod security,
  NetworkPolicies, KEDA ScaledObjects;
- the fallback renderer gives what `kubectl kustomize` gives, so it can stand in for it;
- every rule bites: each entry of BREAKAGES breaks a deep copy of the rendered objects in
  one way, and the check named with it must report a problem.
"""

import copy

import pytest

import k8s_checks as k
import kustomize
from k8s_checks import FN_NS, FUNCTIONS, MINIO_IMAGE_REPO, MINIO_NS, MINIO_SERVER_URL


# --------------------------------------------------------------------------- the real objects

def test_object_is_valid_against_its_schema(manifest, k8s_version):
    assert k.schema_problems(manifest, k8s_version) == []


def test_namespaces(rendered):
    assert k.namespace_problems(rendered.base) == []


def test_minio_statefulset(rendered):
    assert k.minio_statefulset_problems(rendered.base) == []


def test_minio_services(rendered):
    assert k.minio_service_problems(rendered.base) == []


def test_minio_container(rendered):
    assert k.minio_container_problems(rendered.base) == []


def test_minio_storage_and_disruption_budget(rendered):
    assert k.minio_storage_problems(rendered.base) == []


def test_no_credentials_rendered(rendered):
    assert k.credential_problems(rendered.objects) == []


def test_pod_security(rendered):
    assert k.pod_security_problems(rendered.base) == []


def test_images_pinned(rendered):
    assert k.image_pin_problems(rendered.base) == []


def test_minio_network_policy(rendered):
    assert k.minio_network_policy_problems(rendered.base) == []


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_function_network_policy(rendered, fn):
    assert k.function_network_policy_problems(rendered.base, fn) == []


def test_keda_overlay(rendered):
    assert k.keda_overlay_problems(rendered.keda) == []


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_scaled_object(rendered, fn):
    assert k.scaled_object_problems(rendered.keda, fn) == []


# --------------------------------------------------------------------------- the fallback renderer

@pytest.mark.parametrize("folder", ["k8s", "k8s/keda"])
def test_fallback_renderer_agrees_with_kubectl(repo_root, folder):
    if not kustomize.kubectl_path():
        pytest.skip("no kubectl on this machine (apt has no kubernetes-client): nothing to "
                    "compare the fallback renderer with; it rendered the manifests here")
    assert kustomize.canonical(kustomize.render_fallback(repo_root / folder)) == \
        kustomize.canonical(kustomize.render_with_kubectl(repo_root / folder))


def test_fallback_renderer_refuses_what_it_cannot_render(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "resources: [a.yaml]\npatches: [{path: p.yaml}]\n")
    with pytest.raises(kustomize.RenderError, match="patches"):
        kustomize.render_fallback(tmp_path)


# --------------------------------------------------------------------------- breakages
# Helpers that find, in a deep copy of the rendered objects, what a breakage changes.

def minio_sts(base):
    return k.minio_statefulset(base)


def minio_ctr(base):
    return k.minio_container(base)


def minio_pod_spec(base):
    return minio_sts(base)["spec"]["template"]["spec"]


def service(base, name):
    return k.one(base, "Service", name, MINIO_NS)


def minio_ingress_rule(base):
    return k.one(base, "NetworkPolicy", "minio-ingress", MINIO_NS)["spec"]["ingress"][0]


def fn_policy(base, fn):
    (policy,) = k.function_network_policies(base, fn)
    return policy


def internet_rules(base, fn):
    return [r for r in k.egress_rules(fn_policy(base, fn)) if any("ipBlock" in x for x in r["to"])]


def ipv4_except(base):
    for rule in internet_rules(base, "fetch-incoming"):
        for peer in rule["to"]:
            if peer["ipBlock"]["cidr"] == "0.0.0.0/0":
                return peer["ipBlock"]["except"]
    raise LookupError("no 0.0.0.0/0 block for fetch-incoming")


def scaled(keda, fn="fetch-incoming"):
    (so,) = k.scaled_objects_of(keda, fn)
    return so


def trigger_metadata(keda, fn="fetch-incoming"):
    return scaled(keda, fn)["spec"]["triggers"][0]["metadata"]


def drop_gateway_rule(base, fn):
    policy = fn_policy(base, fn)
    policy["spec"]["egress"] = [r for r in k.egress_rules(policy)
                                if k.rule_ports(r) != {("TCP", 8080)}]


def run_as_root(base):
    minio_ctr(base)["securityContext"]["runAsUser"] = 0
    minio_pod_spec(base)["securityContext"]["runAsUser"] = 0


def min_above_max(keda):
    scaled(keda)["spec"].update(minReplicaCount=4, maxReplicaCount=3)


# The checks a breakage must trip, as functions of (rendered, k8s_version).
SCHEMA = lambda r, v: k.all_schema_problems(r.objects, v)  # noqa: E731
NAMESPACES = lambda r, v: k.namespace_problems(r.base)  # noqa: E731
MINIO_STS = lambda r, v: k.minio_statefulset_problems(r.base)  # noqa: E731
MINIO_SERVICES = lambda r, v: k.minio_service_problems(r.base)  # noqa: E731
MINIO_CONTAINER = lambda r, v: k.minio_container_problems(r.base)  # noqa: E731
MINIO_STORAGE = lambda r, v: k.minio_storage_problems(r.base)  # noqa: E731
CREDENTIALS = lambda r, v: k.credential_problems(r.objects)  # noqa: E731
POD_SECURITY = lambda r, v: k.pod_security_problems(r.base)  # noqa: E731
IMAGES_PINNED = lambda r, v: k.image_pin_problems(r.base)  # noqa: E731
MINIO_POLICY = lambda r, v: k.minio_network_policy_problems(r.base)  # noqa: E731
KEDA_OVERLAY = lambda r, v: k.keda_overlay_problems(r.keda)  # noqa: E731


def fn_policy_check(fn):
    return lambda r, v: k.function_network_policy_problems(r.base, fn)


def scaled_object_check(fn):
    return lambda r, v: k.scaled_object_problems(r.keda, fn)


# (id, how it breaks (base, keda) in place, the check that must report it)
BREAKAGES = [
    # schema
    ("StatefulSet replicas as a string",
     lambda b, kd: minio_sts(b)["spec"].update(replicas="4"), SCHEMA),
    ("unknown field in the MinIO container",
     lambda b, kd: minio_ctr(b).update(readinessprobe={}), SCHEMA),
    ("NetworkPolicy with a bad field",
     lambda b, kd: fn_policy(b, "get-object")["spec"].update(egressRules=[]), SCHEMA),
    ("object of a kind without schema",
     lambda b, kd: b.append({"apiVersion": "example.com/v1", "kind": "Widget",
                             "metadata": {"name": "w", "namespace": MINIO_NS}}), SCHEMA),
    ("KEDA unknown field in the ScaledObject spec",
     lambda b, kd: scaled(kd)["spec"].update(maxReplicas=5), SCHEMA),
    ("KEDA threshold not a string",
     lambda b, kd: trigger_metadata(kd).update(threshold=20), SCHEMA),
    ("KEDA scaleTargetRef without name",
     lambda b, kd: scaled(kd)["spec"]["scaleTargetRef"].pop("name"), SCHEMA),
    # MinIO
    ("StatefulSet replicas 3", lambda b, kd: minio_sts(b)["spec"].update(replicas=3), MINIO_STS),
    ("podManagementPolicy OrderedReady",
     lambda b, kd: minio_sts(b)["spec"].update(podManagementPolicy="OrderedReady"), MINIO_STS),
    ("RollingUpdate for MinIO",
     lambda b, kd: minio_sts(b)["spec"]["updateStrategy"].update(type="RollingUpdate"),
     MINIO_STS),
    ("required anti-affinity",
     lambda b, kd: minio_pod_spec(b)["affinity"]["podAntiAffinity"].update(
         requiredDuringSchedulingIgnoredDuringExecution=[
             {"topologyKey": "kubernetes.io/hostname"}]), MINIO_STS),
    ("serviceName points at minio-api",
     lambda b, kd: minio_sts(b)["spec"].update(serviceName="minio-api"), MINIO_SERVICES),
    ("headless Service gets a cluster IP",
     lambda b, kd: service(b, "minio")["spec"].pop("clusterIP"), MINIO_SERVICES),
    ("headless Service without publishNotReadyAddresses",
     lambda b, kd: service(b, "minio")["spec"].pop("publishNotReadyAddresses"), MINIO_SERVICES),
    ("minio-api Service missing", lambda b, kd: b.remove(service(b, "minio-api")), MINIO_SERVICES),
    ("minio-api on port 9001",
     lambda b, kd: service(b, "minio-api")["spec"]["ports"][0].update(port=9001), MINIO_SERVICES),
    ("readiness probe on the wrong path",
     lambda b, kd: minio_ctr(b)["readinessProbe"]["httpGet"].update(path="/"), MINIO_CONTAINER),
    ("liveness probe missing", lambda b, kd: minio_ctr(b).pop("livenessProbe"), MINIO_CONTAINER),
    ("no resource limits", lambda b, kd: minio_ctr(b)["resources"].pop("limits"), MINIO_CONTAINER),
    ("image :latest",
     lambda b, kd: minio_ctr(b).update(image=MINIO_IMAGE_REPO + ":latest"), MINIO_CONTAINER),
    ("image :latest (any container)",
     lambda b, kd: minio_ctr(b).update(image=MINIO_IMAGE_REPO + ":latest"), IMAGES_PINNED),
    ("image before the CVE-2025-62506 fix",
     lambda b, kd: minio_ctr(b).update(image=MINIO_IMAGE_REPO + ":RELEASE.2025-04-22T22-12-26Z"),
     MINIO_CONTAINER),
    ("only 3 peers on the command line",
     lambda b, kd: minio_ctr(b)["args"].__setitem__(1, MINIO_SERVER_URL.replace("3", "2")),
     MINIO_CONTAINER),
    ("credentials not from minio-root",
     lambda b, kd: minio_ctr(b)["envFrom"][0]["secretRef"].update(name="other"), MINIO_CONTAINER),
    ("storageClassName pinned",
     lambda b, kd: minio_sts(b)["spec"]["volumeClaimTemplates"][0]["spec"].update(
         storageClassName="standard"), MINIO_STORAGE),
    ("PDB maxUnavailable 2",
     lambda b, kd: k.find(b, "PodDisruptionBudget")[0]["spec"].update(maxUnavailable=2),
     MINIO_STORAGE),
    # credentials, security, namespaces
    ("Secret with literal credentials rendered",
     lambda b, kd: b.append({"apiVersion": "v1", "kind": "Secret",
                             "metadata": {"name": "minio-root", "namespace": MINIO_NS},
                             "stringData": {"MINIO_ROOT_USER": "a", "MINIO_ROOT_PASSWORD": "b"}}),
     CREDENTIALS),
    ("literal MINIO_ROOT_PASSWORD env",
     lambda b, kd: minio_ctr(b).update(env=[{"name": "MINIO_ROOT_PASSWORD", "value": "hunter2"}]),
     CREDENTIALS),
    ("container runs as root", lambda b, kd: run_as_root(b), POD_SECURITY),
    ("container runAsNonRoot false",
     lambda b, kd: minio_ctr(b)["securityContext"].update(runAsNonRoot=False), POD_SECURITY),
    ("privilege escalation allowed",
     lambda b, kd: minio_ctr(b)["securityContext"].pop("allowPrivilegeEscalation"), POD_SECURITY),
    ("capabilities not dropped",
     lambda b, kd: minio_ctr(b)["securityContext"].pop("capabilities"), POD_SECURITY),
    ("openfaas-fn Namespace rendered",
     lambda b, kd: b.append({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": FN_NS}}), NAMESPACES),
    # NetworkPolicies
    ("MinIO ingress open on 9001",
     lambda b, kd: minio_ingress_rule(b)["ports"].append({"protocol": "TCP", "port": 9001}),
     MINIO_POLICY),
    ("MinIO ingress from everywhere",
     lambda b, kd: minio_ingress_rule(b).update({"from": [{"namespaceSelector": {}}]}),
     MINIO_POLICY),
    ("fetch-incoming may reach 169.254.0.0/16",
     lambda b, kd: ipv4_except(b).remove("169.254.0.0/16"), fn_policy_check("fetch-incoming")),
    ("fetch-incoming may reach 10.0.0.0/8",
     lambda b, kd: ipv4_except(b).remove("10.0.0.0/8"), fn_policy_check("fetch-incoming")),
    ("fetch-incoming internet on all ports",
     lambda b, kd: [r.pop("ports") for r in internet_rules(b, "fetch-incoming")],
     fn_policy_check("fetch-incoming")),
    ("get-object may reach the internet",
     lambda b, kd: k.egress_rules(fn_policy(b, "get-object")).append(
         copy.deepcopy(internet_rules(b, "fetch-incoming")[0])), fn_policy_check("get-object")),
    ("greyscale cannot reach the gateway",
     lambda b, kd: drop_gateway_rule(b, "greyscale"), fn_policy_check("greyscale")),
    ("greyscale policy missing",
     lambda b, kd: b.remove(fn_policy(b, "greyscale")), fn_policy_check("greyscale")),
    # KEDA
    ("KEDA maxReplicaCount 10 (> CE limit 5)",
     lambda b, kd: scaled(kd)["spec"].update(maxReplicaCount=10),
     scaled_object_check("fetch-incoming")),
    ("KEDA minReplicaCount 0",
     lambda b, kd: scaled(kd)["spec"].update(minReplicaCount=0),
     scaled_object_check("fetch-incoming")),
    ("KEDA min > max", lambda b, kd: min_above_max(kd), scaled_object_check("fetch-incoming")),
    ("KEDA threshold not numeric",
     lambda b, kd: trigger_metadata(kd).update(threshold="fast"),
     scaled_object_check("fetch-incoming")),
    ("KEDA threshold 0",
     lambda b, kd: trigger_metadata(kd).update(threshold="0"),
     scaled_object_check("fetch-incoming")),
    ("KEDA trigger type cpu",
     lambda b, kd: scaled(kd)["spec"]["triggers"][0].update(type="cpu"),
     scaled_object_check("fetch-incoming")),
    ("KEDA query of another function",
     lambda b, kd: trigger_metadata(kd, "greyscale").update(query=trigger_metadata(kd)["query"]),
     scaled_object_check("greyscale")),
    ("KEDA scaleTargetRef of an unknown function",
     lambda b, kd: scaled(kd)["spec"]["scaleTargetRef"].update(name="figlet"), KEDA_OVERLAY),
    ("KEDA ScaledObject missing",
     lambda b, kd: kd.remove(scaled(kd, "get-object")), KEDA_OVERLAY),
    ("KEDA wrong Prometheus",
     lambda b, kd: trigger_metadata(kd).update(serverAddress="http://prometheus:9090"),
     scaled_object_check("fetch-incoming")),
    ("KEDA cooldownPeriod 300",
     lambda b, kd: scaled(kd)["spec"].update(cooldownPeriod=300),
     scaled_object_check("fetch-incoming")),
]


@pytest.mark.parametrize("breakage, check", [(b[1], b[2]) for b in BREAKAGES],
                         ids=[b[0] for b in BREAKAGES])
def test_breakage_is_caught(rendered, k8s_version, breakage, check):
    assert check(rendered, k8s_version) == [], "the check fails on the unbroken manifests"
    before = copy.deepcopy(rendered)
    breakage(rendered.base, rendered.keda)
    assert rendered != before, "the breakage no longer changes the manifests"
    assert check(rendered, k8s_version) != []

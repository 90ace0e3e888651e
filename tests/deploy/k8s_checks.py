"""greyfaas's rules for its rendered Kubernetes objects (k8s/ and the KEDA overlay k8s/keda/).

Every check is a plain function of the rendered objects that returns a list of problems,
empty when the rule holds. test_manifests.py asserts the list is empty for the real
manifests and non-empty for copies broken on purpose, so no rule can silently stop biting.

`schema_problems` validates one object: built-in kinds against the Kubernetes OpenAPI
schemas (kubernetes-validate, strict: unknown fields are errors, a kind without a schema
is an error), KEDA ScaledObjects against the pydantic models that cloudcoil.models.keda
generates from KEDA's CRD (strict types; unknown fields are errors).

The KEDA thresholds are not compared with stack.yml here: k8s/keda/ is generated from
stack.yml by `greyfaas stack keda`, and `greyfaas stack keda --check` compares them.
"""

import ipaddress
import re

FUNCTIONS = ("fetch-incoming", "greyscale", "get-object", "gallery")
FN_NS = "openfaas-fn"
MINIO_NS = "greyfaas"
MINIO_IMAGE_REPO = "ghcr.io/greyfaas/minio"  # built by k8s/minio-image/Dockerfile
MINIO_FIRST_FIXED_RELEASE = "RELEASE.2025-10-15T17-29-55Z"  # fixes CVE-2025-62506
MINIO_SERVER_URL = "http://minio-{0...3}.minio.greyfaas.svc.cluster.local/data"
PROMETHEUS = "http://prometheus.openfaas.svc.cluster.local:9090"
OPENFAAS_CE_MAX_REPLICAS = 5
SSRF_EXCEPT_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                  "169.254.0.0/16", "127.0.0.0/8")
SSRF_EXCEPT_V6 = ("fc00::/7", "fe80::/10", "::1/128")
CREDENTIAL_NAME = re.compile(r"(PASSWORD|SECRET|ACCESS_KEY|ROOT_USER|TOKEN)", re.I)
KEDA_GROUP = "keda.sh/"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                  "ReplicationController")
# function -> (may reach the internet, may reach the gateway)
FUNCTION_EGRESS = {
    "fetch-incoming": (True, True),
    "greyscale": (False, True),
    "get-object": (False, False),
    "gallery": (False, False),
}


class Problems(list):
    """What a check found wrong: `expect(condition, message)` records message when false."""

    def expect(self, condition, message):
        if not condition:
            self.append(message)
        return bool(condition)


# --------------------------------------------------------------------------- lookups

def dig(obj, *path, default=None):
    """obj[path[0]][path[1]]..., or default where the path does not exist."""
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return default
    return obj


def find(objs, kind, name=None, namespace=None):
    """The objects of a kind, optionally of a name and namespace."""
    return [o for o in objs
            if o.get("kind") == kind
            and (name is None or dig(o, "metadata", "name") == name)
            and (namespace is None or dig(o, "metadata", "namespace") == namespace)]


def one(objs, kind, name, namespace):
    """The object of that kind, name and namespace if there is exactly one, else None."""
    found = find(objs, kind, name, namespace)
    return found[0] if len(found) == 1 else None


def object_name(obj):
    """'Kind namespace/name' of an object, for messages and test ids."""
    return "%s %s/%s" % (obj.get("kind"), dig(obj, "metadata", "namespace", default="-"),
                         dig(obj, "metadata", "name"))


def selects(match_labels, labels):
    """A non-empty matchLabels selector selects these labels."""
    return bool(match_labels) and all((labels or {}).get(k) == v for k, v in match_labels.items())


def pod_templates(objs):
    """(object, pod spec) of every object that runs pods."""
    for obj in objs:
        kind = obj.get("kind")
        if kind == "Pod":
            yield obj, obj.get("spec") or {}
        elif kind == "CronJob":
            yield obj, dig(obj, "spec", "jobTemplate", "spec", "template", "spec", default={})
        elif kind in WORKLOAD_KINDS:
            yield obj, dig(obj, "spec", "template", "spec", default={})


def all_containers(pod_spec):
    """Init, regular and ephemeral containers of a pod spec."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod_spec.get(key) or []


def as_number(text):
    """float(text), or None when it is not a number."""
    try:
        return float(str(text))
    except ValueError:
        return None


def minio_statefulset(objs):
    return one(objs, "StatefulSet", "minio", MINIO_NS)


def minio_pod_labels(objs):
    return dig(minio_statefulset(objs), "spec", "template", "metadata", "labels", default={})


def minio_container(objs):
    """The container named minio of the MinIO StatefulSet, or None."""
    containers = [c for c in dig(minio_statefulset(objs), "spec", "template", "spec",
                                 "containers", default=[]) or []
                  if c.get("name") == "minio"]
    return containers[0] if len(containers) == 1 else None


def function_network_policies(objs, fn):
    """The NetworkPolicies of openfaas-fn that select exactly the pods of function fn."""
    return [p for p in find(objs, "NetworkPolicy", namespace=FN_NS)
            if dig(p, "spec", "podSelector", "matchLabels") == {"faas_function": fn}]


def scaled_objects_of(keda_objs, fn):
    """The ScaledObjects that scale function fn."""
    return [o for o in find(keda_objs, "ScaledObject")
            if dig(o, "spec", "scaleTargetRef", "name") == fn]


# --------------------------------------------------------------------------- schema

def unknown_keys(given, dumped, path=""):
    """Keys present in the input but dropped by the pydantic model (= not in the CRD)."""
    out = []
    if isinstance(given, dict) and isinstance(dumped, dict):
        for key, value in given.items():
            if key not in dumped:
                out.append(path + "." + str(key))
            else:
                out.extend(unknown_keys(value, dumped[key], path + "." + str(key)))
    elif isinstance(given, list) and isinstance(dumped, list):
        for i, (g, d) in enumerate(zip(given, dumped)):
            out.extend(unknown_keys(g, d, "%s[%d]" % (path, i)))
    return out


def keda_schema_problems(obj):
    """A keda.sh object against cloudcoil's models of KEDA's CRD, strict."""
    from cloudcoil.models.keda import v1alpha1 as keda
    from pydantic import ValidationError

    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    model = getattr(keda, kind, None) if api == "keda.sh/v1alpha1" else None
    if model is None:
        return ["no KEDA schema for %s %s" % (api, kind)]
    try:
        parsed = model.model_validate(obj, strict=True)
    except ValidationError as e:
        return ["KEDA schema: %s: %s" % (".".join(str(x) for x in err["loc"]), err["msg"])
                for err in e.errors()]
    dumped = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    return ["KEDA schema: unknown field %s" % key for key in unknown_keys(obj, dumped)]


def kubernetes_schema_problems(obj, k8s_version):
    """A built-in object against the Kubernetes OpenAPI schema of k8s_version, strict."""
    from kubernetes_validate import utils as kv

    try:
        kv.validate(obj, k8s_version, strict=True)
    except kv.ValidationError as e:
        return ["k8s %s schema: %s: %s" % (e.version, ".".join(str(p) for p in e.path), e.message)]
    except kv.SchemaNotFoundError as e:
        return [e.message]
    except Exception as e:  # malformed object (no apiVersion, ...)
        return ["cannot validate: %r" % (e,)]
    return []


def schema_problems(obj, k8s_version):
    """[] when obj is valid against its schema, else the validation errors."""
    if obj.get("apiVersion", "").startswith(KEDA_GROUP):
        return keda_schema_problems(obj)
    return kubernetes_schema_problems(obj, k8s_version)


def all_schema_problems(objs, k8s_version):
    """Schema problems of every object, each prefixed with the object's name."""
    return ["%s: %s" % (object_name(o), p) for o in objs for p in schema_problems(o, k8s_version)]


# --------------------------------------------------------------------------- namespaces

def namespace_problems(objs):
    """Namespace greyfaas is rendered; OpenFaaS's own are not; every object names one."""
    p = Problems()
    names = [dig(n, "metadata", "name") for n in find(objs, "Namespace")]
    p.expect(names.count(MINIO_NS) == 1, "Namespace greyfaas not rendered once: %r" % names)
    p.expect(not {"openfaas", FN_NS} & set(names),
             "openfaas / openfaas-fn are the OpenFaaS install's to create: %r" % names)
    unnamed = [object_name(o) for o in objs
               if o.get("kind") != "Namespace" and not dig(o, "metadata", "namespace")]
    p.expect(not unnamed, "objects without a namespace: %r" % unnamed)
    return p


# --------------------------------------------------------------------------- MinIO

def minio_statefulset_problems(objs):
    """The MinIO StatefulSet: 4 servers started together, upgraded together, spread out."""
    sts = minio_statefulset(objs)
    if sts is None:
        return ["StatefulSet greyfaas/minio is not rendered exactly once"]
    p = Problems()
    spec = sts.get("spec") or {}
    pod_labels = minio_pod_labels(objs)
    p.expect(spec.get("replicas") == 4, "replicas %r, want 4" % spec.get("replicas"))
    p.expect(spec.get("podManagementPolicy") == "Parallel", "podManagementPolicy not Parallel")
    p.expect(dig(spec, "updateStrategy", "type") == "OnDelete",
             "updateStrategy not OnDelete (MinIO upgrades all servers at once)")
    p.expect(selects(dig(spec, "selector", "matchLabels"), pod_labels),
             "selector does not select its pod template")
    anti = dig(spec, "template", "spec", "affinity", "podAntiAffinity", default={})
    preferred = anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    p.expect(any(dig(t, "podAffinityTerm", "topologyKey") == "kubernetes.io/hostname"
                 and selects(dig(t, "podAffinityTerm", "labelSelector", "matchLabels"),
                             pod_labels)
                 for t in preferred)
             and not anti.get("requiredDuringSchedulingIgnoredDuringExecution"),
             "podAntiAffinity not preferred-only on kubernetes.io/hostname: %r" % anti)
    return p


def minio_service_problems(objs):
    """The headless Service `minio` (peer DNS) and the client Service `minio-api` on 9000."""
    p = Problems()
    spec = dig(minio_statefulset(objs), "spec", default={})
    pod_labels = minio_pod_labels(objs)
    headless = one(objs, "Service", spec.get("serviceName"), MINIO_NS)
    p.expect(spec.get("serviceName") == "minio" and headless is not None,
             "StatefulSet serviceName %r is not the headless Service 'minio'"
             % spec.get("serviceName"))
    if headless is not None:
        p.expect(dig(headless, "spec", "clusterIP") == "None", "Service minio: clusterIP not None")
        p.expect(dig(headless, "spec", "publishNotReadyAddresses") is True,
                 "Service minio: publishNotReadyAddresses not true")
        p.expect(selects(dig(headless, "spec", "selector"), pod_labels),
                 "Service minio: does not select the MinIO pods")
    api = one(objs, "Service", "minio-api", MINIO_NS)
    if not p.expect(api is not None, "Service greyfaas/minio-api not rendered"):
        return p
    ports = [port.get("port") for port in dig(api, "spec", "ports", default=[])]
    p.expect(9000 in ports, "Service minio-api: no port 9000: %r" % ports)
    p.expect(dig(api, "spec", "clusterIP") != "None", "Service minio-api: no cluster IP")
    p.expect(selects(dig(api, "spec", "selector"), pod_labels),
             "Service minio-api: does not select the MinIO pods")
    return p


def minio_container_problems(objs):
    """The minio container: pinned fixed image, distributed command line, probes, resources,
    credentials from the Secret minio-root."""
    m = minio_container(objs)
    if m is None:
        return ["StatefulSet greyfaas/minio has no single container 'minio'"]
    p = Problems()
    image = m.get("image", "")
    repo, _, tag = image.rpartition(":")
    p.expect(repo == MINIO_IMAGE_REPO and tag.startswith("RELEASE.") and "@" not in tag,
             "image not pinned to a release tag of %s: %s" % (MINIO_IMAGE_REPO, image))
    p.expect(tag >= MINIO_FIRST_FIXED_RELEASE,
             "tag %s older than %s (the CVE-2025-62506 fix)" % (tag, MINIO_FIRST_FIXED_RELEASE))
    argv = (m.get("command") or []) + (m.get("args") or [])
    p.expect(argv == ["minio", "server", MINIO_SERVER_URL, "--console-address", ":9001"],
             "command line is not 'minio server <4 peers>/data --console-address :9001': %s"
             % " ".join(argv))
    p.expect(any(port.get("containerPort") == 9000 for port in m.get("ports") or []),
             "no container port 9000")
    for probe, path in (("readinessProbe", "/minio/health/ready"),
                        ("livenessProbe", "/minio/health/live")):
        get = dig(m, probe, "httpGet", default={})
        p.expect(get.get("path") == path and get.get("port") in (9000, "api"),
                 "%s is not GET %s on 9000: %r" % (probe, path, get))
    resources = m.get("resources") or {}
    p.expect(all(dig(resources, k, r) for k in ("requests", "limits") for r in ("cpu", "memory")),
             "cpu and memory requests and limits not all set: %r" % resources)
    from_secret = any(dig(e, "secretRef", "name") == "minio-root" for e in m.get("envFrom") or [])
    root_env_secrets = {dig(e, "valueFrom", "secretKeyRef", "name") for e in m.get("env") or []
                        if e.get("name") in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")}
    p.expect(from_secret or root_env_secrets == {"minio-root"},
             "credentials not from the Secret minio-root")
    return p


def minio_storage_problems(objs):
    """One 10Gi RWO volume per server on the default StorageClass; one server down at most."""
    p = Problems()
    spec = dig(minio_statefulset(objs), "spec", default={})
    claims = spec.get("volumeClaimTemplates") or []
    mounts = {v.get("name"): v.get("mountPath")
              for v in (minio_container(objs) or {}).get("volumeMounts") or []}
    p.expect(len(claims) == 1
             and dig(claims[0], "spec", "resources", "requests", "storage") == "10Gi"
             and dig(claims[0], "spec", "accessModes") == ["ReadWriteOnce"]
             and "storageClassName" not in (claims[0].get("spec") or {})
             and mounts.get(dig(claims[0], "metadata", "name")) == "/data",
             "not one volumeClaimTemplate of 10Gi RWO, default StorageClass, mounted at "
             "/data: %r" % claims)
    pdbs = [b for b in find(objs, "PodDisruptionBudget", namespace=MINIO_NS)
            if selects(dig(b, "spec", "selector", "matchLabels"), minio_pod_labels(objs))]
    p.expect(len(pdbs) == 1 and dig(pdbs[0], "spec", "maxUnavailable") == 1
             and "minAvailable" not in pdbs[0]["spec"],
             "not one PodDisruptionBudget with maxUnavailable 1: %r"
             % [b.get("spec") for b in pdbs])
    return p


# --------------------------------------------------------------------------- security

def credential_problems(objs):
    """No Secret is rendered (credentials are created by hand), no literal credential env."""
    p = Problems()
    secrets = [object_name(o) for o in objs if o.get("kind") == "Secret"]
    p.expect(not secrets, "Secrets rendered (credentials are created by hand): %r" % secrets)
    literal = ["%s %s" % (object_name(o), e["name"])
               for o, pod in pod_templates(objs) for c in all_containers(pod)
               for e in c.get("env") or []
               if CREDENTIAL_NAME.search(e.get("name", "")) and "value" in e]
    p.expect(not literal, "credentials passed as literal env values: %r" % literal)
    return p


def container_security_problems(container, pod_security_context):
    """What a container's effective security context lacks."""
    sc = container.get("securityContext") or {}

    def effective(key):
        return sc.get(key, pod_security_context.get(key))

    missing = []
    if effective("runAsNonRoot") is not True:
        missing.append("runAsNonRoot")
    if effective("runAsUser") in (0, None):
        missing.append("runAsUser")
    if sc.get("allowPrivilegeEscalation") is not False:
        missing.append("allowPrivilegeEscalation")
    if "ALL" not in (dig(sc, "capabilities", "drop") or []):
        missing.append("capabilities.drop ALL")
    if dig(sc, "capabilities", "add"):
        missing.append("capabilities.add")
    if sc.get("privileged"):
        missing.append("privileged")
    if dig(sc, "seccompProfile", "type",
           default=dig(pod_security_context, "seccompProfile", "type")) != "RuntimeDefault":
        missing.append("seccompProfile RuntimeDefault")
    return missing


def pod_security_problems(objs):
    """Every container non-root, no privilege escalation, no capabilities, RuntimeDefault
    seccomp; and there are containers to check."""
    p = Problems()
    containers = [(o, pod, c) for o, pod in pod_templates(objs) for c in all_containers(pod)]
    p.expect(containers, "no workload with containers rendered")
    for obj, pod, container in containers:
        missing = container_security_problems(container, pod.get("securityContext") or {})
        p.expect(not missing, "%s container %s: %s"
                 % (object_name(obj), container.get("name"), ", ".join(missing)))
    return p


def image_pin_problems(objs):
    """Every container image has a tag other than latest, or a digest."""
    p = Problems()
    for obj, pod in pod_templates(objs):
        for container in all_containers(pod):
            image = container.get("image", "")
            tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
            p.expect("@sha256:" in image or (tag and tag != "latest"),
                     "%s: image %s not pinned (untagged or :latest)" % (object_name(obj), image))
    return p


# --------------------------------------------------------------------------- NetworkPolicies

def egress_rules(policy):
    return dig(policy, "spec", "egress", default=[]) or []


def rule_ports(rule):
    """{(protocol, port)} of a NetworkPolicy rule."""
    return {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or []}


def is_namespace_peer(peer, namespace, pod_labels=None):
    """The peer is the pods (pod_labels, or all) of exactly that namespace, no ipBlock."""
    return (dig(peer, "namespaceSelector", "matchLabels")
            == {"kubernetes.io/metadata.name": namespace}
            and dig(peer, "podSelector", "matchLabels") == pod_labels
            and "ipBlock" not in peer)


def minio_network_policy_problems(objs):
    """Ingress to MinIO: TCP 9000 only, from openfaas-fn and from the MinIO peers only."""
    minio_labels = minio_pod_labels(objs)
    policies = [pol for pol in find(objs, "NetworkPolicy", namespace=MINIO_NS)
                if selects(dig(pol, "spec", "podSelector", "matchLabels"), minio_labels)]
    if len(policies) != 1:
        return ["%d NetworkPolicies select the MinIO pods, want 1" % len(policies)]
    p = Problems()
    policy = policies[0]
    rules = dig(policy, "spec", "ingress", default=[]) or []
    peers = [peer for rule in rules for peer in rule.get("from") or []]

    def from_functions(peer):
        return dig(peer, "namespaceSelector", "matchLabels") == {
            "kubernetes.io/metadata.name": FN_NS}

    def from_minio_peers(peer):
        return ("namespaceSelector" not in peer and "ipBlock" not in peer
                and selects(dig(peer, "podSelector", "matchLabels"), minio_labels))

    p.expect("Ingress" in (dig(policy, "spec", "policyTypes") or []), "policyTypes lacks Ingress")
    p.expect(rules and all(rule_ports(r) == {("TCP", 9000)} for r in rules),
             "ingress rules not all limited to TCP 9000: %r" % [rule_ports(r) for r in rules])
    p.expect(all(r.get("from") for r in rules), "an ingress rule names no sources")
    p.expect(any(from_functions(x) for x in peers), "no ingress from namespace openfaas-fn")
    p.expect(any(from_minio_peers(x) for x in peers),
             "no ingress from the MinIO peers")
    p.expect(all(from_functions(x) or from_minio_peers(x) for x in peers),
             "ingress from other sources: %r" % peers)
    return p


def ip_block_problems(fn, ip_rules):
    """The internet rule of a function: TCP 80/443 to 0.0.0.0/0 and ::/0 minus every
    internal range (the same ranges fetch-incoming's SSRF guard refuses)."""
    p = Problems()
    p.expect(len(ip_rules) == 1 and rule_ports(ip_rules[0]) == {("TCP", 80), ("TCP", 443)},
             "internet not only on TCP 80/443: %r" % [rule_ports(r) for r in ip_rules])
    blocks = [x.get("ipBlock") for r in ip_rules for x in r.get("to") or []]
    p.expect(all(blocks), "the internet rule has peers other than ipBlocks")
    blocks = [b for b in blocks if b]
    v4 = [b for b in blocks if b.get("cidr") == "0.0.0.0/0"]
    v6 = [b for b in blocks if b.get("cidr") == "::/0"]
    p.expect(len(v4) == 1 and len(v6) == 1 and len(blocks) == 2,
             "not one 0.0.0.0/0 and one ::/0 block: %r" % blocks)
    for found, required in ((v4, SSRF_EXCEPT_V4), (v6, SSRF_EXCEPT_V6)):
        excepted = [ipaddress.ip_network(x) for x in (found[0].get("except") or [])
                    ] if found else []
        for cidr in required:
            net = ipaddress.ip_network(cidr)
            p.expect(any(net.version == e.version and net.subnet_of(e) for e in excepted),
                     "%s may reach %s" % (fn, cidr))
    return p


def function_network_policy_problems(objs, fn):
    """The egress allow-list of one function: DNS, MinIO, the gateway if it calls it, the
    internet (ports 80/443, internal ranges excepted) if it downloads; nothing else."""
    internet, gateway = FUNCTION_EGRESS[fn]
    policies = function_network_policies(objs, fn)
    if len(policies) != 1:
        return ["%d egress NetworkPolicies for %s in openfaas-fn, want 1" % (len(policies), fn)]
    p = Problems()
    policy = policies[0]
    rules = egress_rules(policy)
    minio_labels = minio_pod_labels(objs)
    p.expect(dig(policy, "spec", "policyTypes") == ["Egress"], "policyTypes not [Egress]")
    p.expect(rules and all(r.get("to") and r.get("ports") for r in rules),
             "an egress rule lacks destinations or ports")
    dns = [r for r in rules if rule_ports(r) == {("UDP", 53), ("TCP", 53)}
           and all(is_namespace_peer(x, "kube-system") for x in r.get("to") or [])]
    p.expect(len(dns) == 1, "no single DNS rule (UDP+TCP 53 to kube-system)")
    minio = [r for r in rules if rule_ports(r) == {("TCP", 9000)}
             and all(dig(x, "namespaceSelector", "matchLabels")
                     == {"kubernetes.io/metadata.name": MINIO_NS}
                     and selects(dig(x, "podSelector", "matchLabels"), minio_labels)
                     for x in r.get("to") or [])]
    p.expect(len(minio) == 1, "no single rule to the MinIO pods in greyfaas on 9000")
    gw = [r for r in rules if rule_ports(r) == {("TCP", 8080)}
          and all(is_namespace_peer(x, "openfaas", {"app": "gateway"}) for x in r.get("to") or [])]
    p.expect(len(gw) == (1 if gateway else 0),
             "gateway 8080 should be %s" % ("allowed" if gateway else "not allowed"))
    ip_rules = [r for r in rules if any("ipBlock" in x for x in r.get("to") or [])]
    p.expect(len(rules) == len(dns) + len(minio) + len(gw) + len(ip_rules),
             "rules beyond DNS/MinIO/gateway/internet")
    if internet:
        p.extend(ip_block_problems(fn, ip_rules))
    else:
        p.expect(not ip_rules, "ipBlock rules (internet) for a function that needs none")
    return p


# --------------------------------------------------------------------------- KEDA

def keda_overlay_problems(keda_objs):
    """k8s/keda/ renders only ScaledObjects, one per function."""
    p = Problems()
    p.expect(keda_objs and all(o.get("kind") == "ScaledObject" for o in keda_objs),
             "the KEDA overlay renders other kinds than ScaledObject")
    names = sorted(str(dig(o, "spec", "scaleTargetRef", "name"))
                   for o in find(keda_objs, "ScaledObject"))
    p.expect(names == sorted(FUNCTIONS), "not one ScaledObject per function: %r" % names)
    return p


def gateway_rate_query(fn):
    return ('sum(rate(gateway_function_invocation_total{function_name="%s.%s"}[1m]))'
            % (fn, FN_NS))


def trigger_problems(fn, trigger):
    """The one trigger: the gateway's invocation rate of fn per replica, from OpenFaaS's
    Prometheus, with a positive numeric threshold."""
    p = Problems()
    metadata = trigger.get("metadata") or {}
    p.expect(trigger.get("metricType", "AverageValue") == "AverageValue",
             "metricType not AverageValue (RPS per replica)")
    p.expect(metadata.get("serverAddress") == PROMETHEUS,
             "serverAddress %r is not the OpenFaaS Prometheus" % metadata.get("serverAddress"))
    p.expect(re.sub(r"\s+", "", str(metadata.get("query"))) == gateway_rate_query(fn),
             "query is not the gateway invocation rate of %s: %r" % (fn, metadata.get("query")))
    threshold = metadata.get("threshold")
    p.expect(isinstance(threshold, str) and (as_number(threshold) or 0) > 0,
             "threshold not a numeric string > 0: %r" % threshold)
    return p


def scaled_object_problems(keda_objs, fn):
    """The ScaledObject of one function: its Deployment in openfaas-fn, 1..5 replicas (CE),
    OpenFaaS-like timing, one Prometheus trigger."""
    found = scaled_objects_of(keda_objs, fn)
    if len(found) != 1:
        return ["%d ScaledObjects scale %s, want 1" % (len(found), fn)]
    p = Problems()
    so = found[0]
    spec = so.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    p.expect(so.get("apiVersion") == "keda.sh/v1alpha1", "apiVersion not keda.sh/v1alpha1")
    p.expect(dig(so, "metadata", "namespace") == FN_NS, "not in openfaas-fn")
    p.expect(target.get("kind", "Deployment") == "Deployment"
             and target.get("apiVersion", "apps/v1") == "apps/v1",
             "scaleTargetRef is not a function Deployment: %r" % target)
    low, high = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
    p.expect(isinstance(low, int) and isinstance(high, int)
             and 1 <= low <= high <= OPENFAAS_CE_MAX_REPLICAS,
             "not 1 <= minReplicaCount (%r) <= maxReplicaCount (%r) <= %d"
             % (low, high, OPENFAAS_CE_MAX_REPLICAS))
    p.expect(spec.get("pollingInterval") == 15 and spec.get("cooldownPeriod") == 60,
             "pollingInterval/cooldownPeriod not 15/60")
    p.expect(dig(spec, "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown",
                 "stabilizationWindowSeconds") == 60,
             "HPA scaleDown stabilizationWindowSeconds not 60")
    p.expect("idleReplicaCount" not in spec, "idleReplicaCount set (CE never scales to zero)")
    triggers = spec.get("triggers") or []
    if p.expect(len(triggers) == 1 and triggers[0].get("type") == "prometheus",
                "not exactly one trigger of type prometheus: %r"
                % [t.get("type") for t in triggers]):
        p.extend(trigger_problems(fn, triggers[0]))
    return p

#!/usr/bin/env python3
"""Validate the rendered greyfaas Kubernetes manifests.

Run by .ci/check-k8s inside its venv (needs kubernetes-validate, cloudcoil.models.keda
and PyYAML):

    check_manifests.py check --base BASE.yaml --keda KEDA.yaml --k8s-dir k8s [--stack stack.yml]
                             [--k8s-version 1.30.0] [--renderer kubectl|fallback]
    check_manifests.py render DIR      # fallback renderer when no kubectl is available

`check` does three things:
  1. schema: every built-in object against the Kubernetes OpenAPI schema
     (kubernetes-validate, strict: unknown fields are errors; an object whose kind has no
     schema is an error, not a warning); every KEDA ScaledObject against the models that
     cloudcoil.models.keda generates from KEDA's CRD (strict types, unknown fields are errors);
  2. greyfaas's own assertions (MinIO topology, probes, security, NetworkPolicies, KEDA);
  3. a self-test: it breaks the rendered objects in memory in many ways, one at a time,
     and requires every breakage to be caught, so no check can silently stop biting.
The last line printed is `k8s: N objects valid, M checks passed` (exit 0) or a FAILED line
(exit 1).
"""

import argparse
import copy
import ipaddress
import os
import re
import sys

import yaml

FUNCTIONS = ("fetch-incoming", "greyscale", "get-object", "gallery")
FN_NS = "openfaas-fn"
MINIO_NS = "greyfaas"
MINIO_IMAGE_REPO = "ghcr.io/greyfaas/minio"  # built by k8s/minio-image/Dockerfile
MINIO_SERVER_URL = "http://minio-{0...3}.minio.greyfaas.svc.cluster.local/data"
PROMETHEUS = "http://prometheus.openfaas.svc.cluster.local:9090"
OPENFAAS_CE_MAX_REPLICAS = 5
SSRF_EXCEPT_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                  "169.254.0.0/16", "127.0.0.0/8")
SSRF_EXCEPT_V6 = ("fc00::/7", "fe80::/10", "::1/128")
THRESHOLD_COMMENT = "# target x target-proportion of com.openfaas.scale.* in stack.yml"
CREDENTIAL_NAME = re.compile(r"(PASSWORD|SECRET|ACCESS_KEY|ROOT_USER|TOKEN)", re.I)
KEDA_GROUP = "keda.sh/"


# --------------------------------------------------------------------------- helpers

def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def dig(obj, *path, default=None):
    for p in path:
        if isinstance(obj, dict) and p in obj:
            obj = obj[p]
        elif isinstance(obj, list) and isinstance(p, int) and -len(obj) <= p < len(obj):
            obj = obj[p]
        else:
            return default
    return obj


def find(objs, kind, name=None, namespace=None):
    return [o for o in objs
            if o.get("kind") == kind
            and (name is None or dig(o, "metadata", "name") == name)
            and (namespace is None or dig(o, "metadata", "namespace") == namespace)]


def one(objs, kind, name, namespace):
    found = find(objs, kind, name, namespace)
    return found[0] if len(found) == 1 else None


def selects(match_labels, labels):
    """A matchLabels selector (non-empty) selects these labels."""
    return bool(match_labels) and all((labels or {}).get(k) == v for k, v in match_labels.items())


def pod_templates(objs):
    for o in objs:
        kind = o.get("kind")
        if kind == "Pod":
            yield o, o.get("spec") or {}
        elif kind == "CronJob":
            yield o, dig(o, "spec", "jobTemplate", "spec", "template", "spec", default={})
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                      "ReplicationController"):
            yield o, dig(o, "spec", "template", "spec", default={})


def all_containers(pod_spec):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod_spec.get(key) or []:
            yield c


def kname(o):
    return "%s %s/%s" % (o.get("kind"), dig(o, "metadata", "namespace", default="-"),
                         dig(o, "metadata", "name"))


def unknown_keys(given, dumped, path=""):
    """Keys present in the input but dropped by the pydantic model (= not in the CRD)."""
    out = []
    if isinstance(given, dict) and isinstance(dumped, dict):
        for k, v in given.items():
            if k not in dumped:
                out.append(path + "." + str(k))
            else:
                out.extend(unknown_keys(v, dumped[k], path + "." + str(k)))
    elif isinstance(given, list) and isinstance(dumped, list):
        for i, (g, d) in enumerate(zip(given, dumped)):
            out.extend(unknown_keys(g, d, "%s[%d]" % (path, i)))
    return out


def as_number(s):
    try:
        return float(str(s))
    except ValueError:
        return None


# --------------------------------------------------------------------------- schema

def schema_errors(obj, k8s_version):
    """[] when obj is valid against its schema, else a list of messages."""
    api = obj.get("apiVersion", "")
    kind = obj.get("kind", "")
    if api.startswith(KEDA_GROUP):
        from cloudcoil.models.keda import v1alpha1 as keda
        from pydantic import ValidationError as PydanticError
        model = getattr(keda, kind, None) if api == "keda.sh/v1alpha1" else None
        if model is None:
            return ["no KEDA schema for %s %s" % (api, kind)]
        try:
            m = model.model_validate(obj, strict=True)
        except PydanticError as e:
            return ["KEDA schema: " + "; ".join(
                "%s: %s" % (".".join(str(x) for x in err["loc"]), err["msg"]) for err in e.errors())]
        extra = unknown_keys(obj, m.model_dump(by_alias=True, exclude_unset=True, mode="json"))
        return ["KEDA schema: unknown field %s" % k for k in extra]

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


# --------------------------------------------------------------------------- assertions

class Checks:
    def __init__(self, verbose=True):
        self.passed = 0
        self.failed = []
        self.verbose = verbose

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed.append(name + (": " + detail if detail else ""))
            if self.verbose:
                print("FAIL %s%s" % (name, ": " + detail if detail else ""))
        return ok


def check_minio(c, objs):
    sts = one(objs, "StatefulSet", "minio", MINIO_NS)
    if not c("StatefulSet greyfaas/minio rendered once", sts is not None):
        return
    spec = sts.get("spec") or {}
    pod = dig(spec, "template", "spec", default={})
    pod_labels = dig(spec, "template", "metadata", "labels", default={})
    c("minio: replicas == 4", spec.get("replicas") == 4, "got %r" % spec.get("replicas"))
    c("minio: podManagementPolicy Parallel", spec.get("podManagementPolicy") == "Parallel")
    c("minio: updateStrategy OnDelete (MinIO upgrades all servers at once)",
      dig(spec, "updateStrategy", "type") == "OnDelete")
    c("minio: selector selects its pod template",
      selects(dig(spec, "selector", "matchLabels"), pod_labels))

    headless = one(objs, "Service", spec.get("serviceName"), MINIO_NS)
    c("minio: serviceName is the headless Service 'minio'",
      spec.get("serviceName") == "minio" and headless is not None,
      "serviceName %r" % spec.get("serviceName"))
    if headless is not None:
        c("Service minio: clusterIP None", dig(headless, "spec", "clusterIP") == "None")
        c("Service minio: publishNotReadyAddresses",
          dig(headless, "spec", "publishNotReadyAddresses") is True)
        c("Service minio: selects the MinIO pods",
          selects(dig(headless, "spec", "selector"), pod_labels))

    api = one(objs, "Service", "minio-api", MINIO_NS)
    if c("Service greyfaas/minio-api rendered", api is not None):
        ports = dig(api, "spec", "ports", default=[])
        c("Service minio-api: port 9000", any(p.get("port") == 9000 for p in ports),
          "ports %r" % [p.get("port") for p in ports])
        c("Service minio-api: has a cluster IP", dig(api, "spec", "clusterIP") != "None")
        c("Service minio-api: selects the MinIO pods",
          selects(dig(api, "spec", "selector"), pod_labels))

    ctrs = [x for x in pod.get("containers") or [] if x.get("name") == "minio"]
    if not c("minio: container 'minio' present", len(ctrs) == 1):
        return
    m = ctrs[0]
    image = m.get("image", "")
    repo, _, tag = image.rpartition(":")
    c("minio: image pinned to a release tag",
      repo == MINIO_IMAGE_REPO and tag.startswith("RELEASE.") and "@" not in tag, image)
    c("minio: tag at least RELEASE.2025-10-15T17-29-55Z (the CVE-2025-62506 fix)",
      tag >= "RELEASE.2025-10-15T17-29-55Z", tag)
    argv = (m.get("command") or []) + (m.get("args") or [])
    c("minio: runs 'minio server <4 peers>/data --console-address :9001'",
      argv == ["minio", "server", MINIO_SERVER_URL, "--console-address", ":9001"], " ".join(argv))
    c("minio: container port 9000",
      any(p.get("containerPort") == 9000 for p in m.get("ports") or []))
    for probe, path in (("readinessProbe", "/minio/health/ready"),
                        ("livenessProbe", "/minio/health/live")):
        get = dig(m, probe, "httpGet", default={})
        c("minio: %s GET %s on 9000" % (probe, path),
          get.get("path") == path and get.get("port") in (9000, "api"), repr(get))
    res = m.get("resources") or {}
    c("minio: cpu+memory requests and limits",
      all(dig(res, k, r) for k in ("requests", "limits") for r in ("cpu", "memory")), repr(res))
    c("minio: credentials from Secret minio-root",
      any(dig(e, "secretRef", "name") == "minio-root" for e in m.get("envFrom") or [])
      or {dig(e, "valueFrom", "secretKeyRef", "name") for e in m.get("env") or []
          if e.get("name") in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")} == {"minio-root"})

    anti = dig(pod, "affinity", "podAntiAffinity", default={})
    pref = anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    c("minio: preferred podAntiAffinity on kubernetes.io/hostname",
      any(dig(t, "podAffinityTerm", "topologyKey") == "kubernetes.io/hostname"
          and selects(dig(t, "podAffinityTerm", "labelSelector", "matchLabels"), pod_labels)
          for t in pref)
      and not anti.get("requiredDuringSchedulingIgnoredDuringExecution"))

    vcts = spec.get("volumeClaimTemplates") or []
    mounts = {v.get("name"): v.get("mountPath") for v in m.get("volumeMounts") or []}
    c("minio: volumeClaimTemplate 10Gi RWO, default StorageClass, mounted at /data",
      len(vcts) == 1
      and dig(vcts[0], "spec", "resources", "requests", "storage") == "10Gi"
      and dig(vcts[0], "spec", "accessModes") == ["ReadWriteOnce"]
      and "storageClassName" not in (vcts[0].get("spec") or {})
      and mounts.get(dig(vcts[0], "metadata", "name")) == "/data", repr(vcts))

    pdbs = [p for p in find(objs, "PodDisruptionBudget", namespace=MINIO_NS)
            if selects(dig(p, "spec", "selector", "matchLabels"), pod_labels)]
    c("minio: one PodDisruptionBudget with maxUnavailable 1",
      len(pdbs) == 1 and dig(pdbs[0], "spec", "maxUnavailable") == 1
      and "minAvailable" not in pdbs[0]["spec"],
      repr([dig(p, "spec") for p in pdbs]))


def check_namespaces(c, objs):
    names = [dig(n, "metadata", "name") for n in find(objs, "Namespace")]
    c("Namespace greyfaas rendered", names.count(MINIO_NS) == 1, repr(names))
    c("openfaas / openfaas-fn namespaces left to the OpenFaaS install",
      not {"openfaas", FN_NS} & set(names), repr(names))
    c("every namespaced object names its namespace",
      all(dig(o, "metadata", "namespace") for o in objs if o.get("kind") != "Namespace"))


def check_no_credentials(c, objs):
    secrets = [kname(o) for o in objs if o.get("kind") == "Secret"]
    c("no Secret rendered (credentials are created by hand)", not secrets, repr(secrets))
    literal = []
    for o, pod in pod_templates(objs):
        for ctr in all_containers(pod):
            for e in ctr.get("env") or []:
                if CREDENTIAL_NAME.search(e.get("name", "")) and "value" in e:
                    literal.append("%s %s" % (kname(o), e["name"]))
    c("no credential passed as a literal env value", not literal, repr(literal))


def check_pod_security(c, objs):
    bad = []
    n = 0
    for o, pod in pod_templates(objs):
        psc = pod.get("securityContext") or {}
        for ctr in all_containers(pod):
            n += 1
            sc = ctr.get("securityContext") or {}
            eff = lambda k: sc.get(k, psc.get(k))  # noqa: E731
            why = []
            if eff("runAsNonRoot") is not True:
                why.append("runAsNonRoot")
            if eff("runAsUser") in (0, None):
                why.append("runAsUser")
            if sc.get("allowPrivilegeEscalation") is not False:
                why.append("allowPrivilegeEscalation")
            if "ALL" not in (dig(sc, "capabilities", "drop") or []):
                why.append("capabilities.drop ALL")
            if dig(sc, "capabilities", "add"):
                why.append("capabilities.add")
            if sc.get("privileged"):
                why.append("privileged")
            if dig(sc, "seccompProfile", "type", default=dig(psc, "seccompProfile", "type")) \
                    != "RuntimeDefault":
                why.append("seccompProfile RuntimeDefault")
            if why:
                bad.append("%s container %s: %s" % (kname(o), ctr.get("name"), ", ".join(why)))
    c("workloads with containers rendered", n > 0)
    c("every container non-root, no privilege escalation, no caps, RuntimeDefault seccomp",
      not bad, "; ".join(bad))
    for o, pod in pod_templates(objs):
        for ctr in all_containers(pod):
            image = ctr.get("image", "")
            tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
            c("%s: image %s pinned (not :latest)" % (kname(o), image),
              "@sha256:" in image or (tag and tag != "latest"))


def egress_rules(pol):
    return dig(pol, "spec", "egress", default=[]) or []


def rule_ports(rule):
    return {(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports") or []}


def peer_kind(peer, ns=None, pod=None):
    return (dig(peer, "namespaceSelector", "matchLabels") == (
        {"kubernetes.io/metadata.name": ns} if ns else None)
        and dig(peer, "podSelector", "matchLabels") == pod and "ipBlock" not in peer)


def check_network_policies(c, objs):
    sts = one(objs, "StatefulSet", "minio", MINIO_NS)
    minio_labels = dig(sts, "spec", "template", "metadata", "labels", default={})

    pols = [p for p in find(objs, "NetworkPolicy", namespace=MINIO_NS)
            if selects(dig(p, "spec", "podSelector", "matchLabels"), minio_labels)]
    if c("NetworkPolicy selecting the MinIO pods", len(pols) == 1, "%d found" % len(pols)):
        p = pols[0]
        c("minio policy: type Ingress", "Ingress" in (dig(p, "spec", "policyTypes") or []))
        rules = dig(p, "spec", "ingress", default=[]) or []
        peers = [peer for r in rules for peer in r.get("from") or []]
        c("minio policy: every ingress rule limited to TCP 9000",
          bool(rules) and all(rule_ports(r) == {("TCP", 9000)} for r in rules),
          repr([rule_ports(r) for r in rules]))
        c("minio policy: every rule names its sources",
          all(r.get("from") for r in rules))
        c("minio policy: from namespace openfaas-fn",
          any(dig(x, "namespaceSelector", "matchLabels") ==
              {"kubernetes.io/metadata.name": FN_NS} for x in peers))
        c("minio policy: from the MinIO peers",
          any("namespaceSelector" not in x
              and selects(dig(x, "podSelector", "matchLabels"), minio_labels) for x in peers))
        c("minio policy: no other sources",
          all(dig(x, "namespaceSelector", "matchLabels") ==
              {"kubernetes.io/metadata.name": FN_NS}
              or ("namespaceSelector" not in x and "ipBlock" not in x
                  and selects(dig(x, "podSelector", "matchLabels"), minio_labels))
              for x in peers), repr(peers))

    want = {  # function -> (internet, gateway)
        "fetch-incoming": (True, True),
        "greyscale": (False, True),
        "get-object": (False, False),
        "gallery": (False, False),
    }
    for fn, (internet, gateway) in want.items():
        pols = [p for p in find(objs, "NetworkPolicy", namespace=FN_NS)
                if dig(p, "spec", "podSelector", "matchLabels") == {"faas_function": fn}]
        if not c("%s: one egress NetworkPolicy in openfaas-fn" % fn, len(pols) == 1,
                 "%d found" % len(pols)):
            continue
        p = pols[0]
        rules = egress_rules(p)
        c("%s policy: policyTypes [Egress]" % fn, dig(p, "spec", "policyTypes") == ["Egress"])
        c("%s policy: every egress rule has destinations and ports" % fn,
          bool(rules) and all(r.get("to") and r.get("ports") for r in rules))
        dns = [r for r in rules
               if rule_ports(r) == {("UDP", 53), ("TCP", 53)}
               and all(peer_kind(x, "kube-system") for x in r.get("to") or [])]
        c("%s policy: DNS (UDP+TCP 53) to kube-system" % fn, len(dns) == 1)
        minio = [r for r in rules if rule_ports(r) == {("TCP", 9000)}
                 and all(dig(x, "namespaceSelector", "matchLabels") ==
                         {"kubernetes.io/metadata.name": MINIO_NS}
                         and selects(dig(x, "podSelector", "matchLabels"), minio_labels)
                         for x in r.get("to") or [])]
        c("%s policy: MinIO pods in greyfaas on 9000" % fn, len(minio) == 1)
        gw = [r for r in rules if rule_ports(r) == {("TCP", 8080)}
              and all(peer_kind(x, "openfaas", {"app": "gateway"}) for x in r.get("to") or [])]
        c("%s policy: gateway 8080 %s" % (fn, "allowed" if gateway else "not allowed"),
          len(gw) == (1 if gateway else 0))
        ip_rules = [r for r in rules if any("ipBlock" in x for x in r.get("to") or [])]
        c("%s policy: no rule beyond DNS/MinIO/gateway/internet" % fn,
          len(rules) == len(dns) + len(minio) + len(gw) + len(ip_rules))
        if not internet:
            c("%s policy: no ipBlock (no internet)" % fn, not ip_rules)
            continue
        c("%s policy: internet only on TCP 80/443" % fn,
          len(ip_rules) == 1 and rule_ports(ip_rules[0]) == {("TCP", 80), ("TCP", 443)},
          repr([rule_ports(r) for r in ip_rules]))
        blocks = [x.get("ipBlock") for r in ip_rules for x in r.get("to") or []]
        c("%s policy: internet rule has only ipBlock peers" % fn, all(blocks))
        blocks = [b for b in blocks if b]
        v4 = [b for b in blocks if b.get("cidr") == "0.0.0.0/0"]
        v6 = [b for b in blocks if b.get("cidr") == "::/0"]
        c("%s policy: one 0.0.0.0/0 and one ::/0 block" % fn,
          len(v4) == 1 and len(v6) == 1 and len(blocks) == 2, repr(blocks))
        for b, required in ((v4, SSRF_EXCEPT_V4), (v6, SSRF_EXCEPT_V6)):
            excepted = [ipaddress.ip_network(x) for x in (b[0].get("except") or [])] if b else []
            for cidr in required:
                net = ipaddress.ip_network(cidr)
                c("%s policy: excludes %s" % (fn, cidr),
                  any(net.version == e.version and net.subnet_of(e) for e in excepted))


def check_keda(c, objs, k8s_dir, stack):
    sos = find(objs, "ScaledObject")
    c("KEDA overlay renders only ScaledObjects",
      bool(objs) and all(o.get("kind") == "ScaledObject" for o in objs))
    names = sorted(str(dig(o, "spec", "scaleTargetRef", "name")) for o in sos)
    c("one ScaledObject per function", names == sorted(FUNCTIONS), repr(names))
    for so in sos:
        spec = so.get("spec") or {}
        fn = dig(spec, "scaleTargetRef", "name")
        tag = "ScaledObject %s" % dig(so, "metadata", "name")
        c("%s: apiVersion keda.sh/v1alpha1" % tag, so.get("apiVersion") == "keda.sh/v1alpha1")
        c("%s: in openfaas-fn" % tag, dig(so, "metadata", "namespace") == FN_NS)
        c("%s: targets a greyfaas function Deployment" % tag,
          fn in FUNCTIONS and dig(spec, "scaleTargetRef", "kind", default="Deployment")
          == "Deployment" and dig(spec, "scaleTargetRef", "apiVersion", default="apps/v1")
          == "apps/v1", repr(spec.get("scaleTargetRef")))
        lo, hi = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
        c("%s: 1 <= minReplicaCount <= maxReplicaCount <= 5" % tag,
          isinstance(lo, int) and isinstance(hi, int)
          and 1 <= lo <= hi <= OPENFAAS_CE_MAX_REPLICAS, "min %r max %r" % (lo, hi))
        c("%s: pollingInterval 15, cooldownPeriod 60" % tag,
          spec.get("pollingInterval") == 15 and spec.get("cooldownPeriod") == 60)
        c("%s: HPA scaleDown stabilizationWindowSeconds 60" % tag,
          dig(spec, "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown",
              "stabilizationWindowSeconds") == 60)
        c("%s: no idleReplicaCount (CE never scales to zero)" % tag,
          "idleReplicaCount" not in spec)
        trig = spec.get("triggers") or []
        if not c("%s: exactly one trigger, type prometheus" % tag,
                 len(trig) == 1 and trig[0].get("type") == "prometheus",
                 repr([t.get("type") for t in trig])):
            continue
        md = trig[0].get("metadata") or {}
        c("%s: metricType AverageValue (RPS per replica)" % tag,
          trig[0].get("metricType", "AverageValue") == "AverageValue")
        c("%s: serverAddress is the OpenFaaS Prometheus" % tag,
          md.get("serverAddress") == PROMETHEUS, repr(md.get("serverAddress")))
        want_q = ('sum(rate(gateway_function_invocation_total{function_name="%s.%s"}[1m]))'
                  % (fn, FN_NS))
        c("%s: query is the gateway invocation rate of %s" % (tag, fn),
          re.sub(r"\s+", "", str(md.get("query"))) == want_q, repr(md.get("query")))
        th = md.get("threshold")
        c("%s: threshold a numeric string > 0" % tag,
          isinstance(th, str) and as_number(th) is not None and as_number(th) > 0, repr(th))
        if fn in (stack or {}):
            target = stack[fn]
            c("%s: threshold %s == target x target-proportion (%s) in stack.yml" % (tag, th, target),
              target is not None and as_number(th) == as_number(target),
              "keep k8s/keda/ and stack.yml in step (stack.yml sets the target as an "
              "annotation, or a label)")

    if k8s_dir:
        src = os.path.join(k8s_dir, "keda")
        lines = []
        for fname in sorted(os.listdir(src)):
            if fname.endswith((".yaml", ".yml")) and fname != "kustomization.yaml":
                with open(os.path.join(src, fname)) as f:
                    lines += [(fname, ln) for ln in f if re.match(r"\s*threshold:", ln)]
        c("every KEDA threshold carries the rps-target comment",
          len(lines) >= len(FUNCTIONS) and all(THRESHOLD_COMMENT in ln for _, ln in lines),
          repr([f for f, ln in lines if THRESHOLD_COMMENT not in ln]))


def stack_targets(path):
    """{function: target x target-proportion, or None} for every function of a stack.yml:
    the per-replica load the OpenFaaS Pro autoscaler aims at (proportion default 0.9),
    which the KEDA thresholds mirror.

    OpenFaaS CE refuses com.openfaas.scale.target as a label at deploy time (faas-netes
    pkg/handlers/validate.go), so stack.yml keeps it as an annotation; a label is read
    too (first), as `greyfaas up` and OpenFaaS Pro do."""
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    out = {}
    for fn, spec in (data.get("functions") or {}).items():
        def scale(key):
            v = dig(spec, "labels", "com.openfaas.scale." + key)
            return dig(spec, "annotations", "com.openfaas.scale." + key) if v is None else v
        t, prop = scale("target"), scale("target-proportion")
        if t is None or as_number(str(t)) is None:
            out[fn] = None if t is None else str(t)
            continue
        p = 0.9 if prop is None else as_number(str(prop))
        out[fn] = None if p is None else "%g" % round(as_number(str(t)) * p, 6)
    return out


def run_assertions(base, keda, k8s_dir, stack, verbose=True):
    c = Checks(verbose)
    check_namespaces(c, base)
    check_minio(c, base)
    check_no_credentials(c, base + keda)
    check_pod_security(c, base)
    check_network_policies(c, base)
    check_keda(c, keda, k8s_dir, stack)
    return c


# --------------------------------------------------------------------------- self-test

def _sts(objs):
    return one(objs, "StatefulSet", "minio", MINIO_NS)


def _minio_ctr(objs):
    return _sts(objs)["spec"]["template"]["spec"]["containers"][0]


def _np(objs, fn):
    return [p for p in find(objs, "NetworkPolicy", namespace=FN_NS)
            if dig(p, "spec", "podSelector", "matchLabels") == {"faas_function": fn}][0]


def _ipv4_except(objs):
    for r in egress_rules(_np(objs, "fetch-incoming")):
        for x in r.get("to") or []:
            if dig(x, "ipBlock", "cidr") == "0.0.0.0/0":
                return x["ipBlock"]["except"]


def _so(objs, fn="fetch-incoming"):
    return [o for o in objs if dig(o, "spec", "scaleTargetRef", "name") == fn][0]


def _trig_md(objs, fn="fetch-incoming"):
    return _so(objs, fn)["spec"]["triggers"][0]["metadata"]


# Each mutation breaks the rendered objects (base, keda) in place; every one must be caught,
# by the schema validation ("schema") or by the assertions ("assert").
MUTATIONS = [
    ("schema", "StatefulSet replicas as a string",
     lambda b, k: _sts(b)["spec"].__setitem__("replicas", "4")),
    ("schema", "unknown field in the MinIO container",
     lambda b, k: _minio_ctr(b).__setitem__("readinessprobe", {})),
    ("schema", "NetworkPolicy with a bad field",
     lambda b, k: _np(b, "get-object")["spec"].__setitem__("egressRules", [])),
    ("schema", "object of a kind without schema",
     lambda b, k: b.append({"apiVersion": "example.com/v1", "kind": "Widget",
                            "metadata": {"name": "w", "namespace": MINIO_NS}})),
    ("schema", "KEDA: unknown field in the ScaledObject spec",
     lambda b, k: _so(k)["spec"].__setitem__("maxReplicas", 5)),
    ("schema", "KEDA: threshold not a string",
     lambda b, k: _trig_md(k).__setitem__("threshold", 20)),
    ("schema", "KEDA: scaleTargetRef without name",
     lambda b, k: _so(k)["spec"]["scaleTargetRef"].pop("name")),
    ("assert", "StatefulSet replicas 3", lambda b, k: _sts(b)["spec"].__setitem__("replicas", 3)),
    ("assert", "serviceName points at minio-api",
     lambda b, k: _sts(b)["spec"].__setitem__("serviceName", "minio-api")),
    ("assert", "headless Service gets a cluster IP",
     lambda b, k: one(b, "Service", "minio", MINIO_NS)["spec"].pop("clusterIP")),
    ("assert", "headless Service without publishNotReadyAddresses",
     lambda b, k: one(b, "Service", "minio", MINIO_NS)["spec"].pop("publishNotReadyAddresses")),
    ("assert", "minio-api Service missing",
     lambda b, k: b.remove(one(b, "Service", "minio-api", MINIO_NS))),
    ("assert", "minio-api on port 9001",
     lambda b, k: one(b, "Service", "minio-api", MINIO_NS)["spec"]["ports"][0]
     .__setitem__("port", 9001)),
    ("assert", "podManagementPolicy OrderedReady",
     lambda b, k: _sts(b)["spec"].__setitem__("podManagementPolicy", "OrderedReady")),
    ("assert", "readiness probe on the wrong path",
     lambda b, k: _minio_ctr(b)["readinessProbe"]["httpGet"].__setitem__("path", "/")),
    ("assert", "liveness probe missing", lambda b, k: _minio_ctr(b).pop("livenessProbe")),
    ("assert", "no resource limits", lambda b, k: _minio_ctr(b)["resources"].pop("limits")),
    ("assert", "image :latest",
     lambda b, k: _minio_ctr(b).__setitem__("image", MINIO_IMAGE_REPO + ":latest")),
    ("assert", "image before the CVE-2025-62506 fix",
     lambda b, k: _minio_ctr(b).__setitem__(
         "image", MINIO_IMAGE_REPO + ":RELEASE.2025-04-22T22-12-26Z")),
    ("assert", "RollingUpdate for MinIO",
     lambda b, k: _sts(b)["spec"]["updateStrategy"].__setitem__("type", "RollingUpdate")),
    ("assert", "only 3 peers on the command line",
     lambda b, k: _minio_ctr(b)["args"].__setitem__(1, MINIO_SERVER_URL.replace("3", "2"))),
    ("assert", "required anti-affinity",
     lambda b, k: _sts(b)["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
     .__setitem__("requiredDuringSchedulingIgnoredDuringExecution",
                  [{"topologyKey": "kubernetes.io/hostname"}])),
    ("assert", "storageClassName pinned",
     lambda b, k: _sts(b)["spec"]["volumeClaimTemplates"][0]["spec"]
     .__setitem__("storageClassName", "standard")),
    ("assert", "PDB maxUnavailable 2",
     lambda b, k: find(b, "PodDisruptionBudget")[0]["spec"].__setitem__("maxUnavailable", 2)),
    ("assert", "Secret with literal credentials rendered",
     lambda b, k: b.append({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "minio-root", "namespace": MINIO_NS},
                            "stringData": {"MINIO_ROOT_USER": "a", "MINIO_ROOT_PASSWORD": "b"}})),
    ("assert", "literal MINIO_ROOT_PASSWORD env",
     lambda b, k: _minio_ctr(b).__setitem__(
         "env", [{"name": "MINIO_ROOT_PASSWORD", "value": "hunter2"}])),
    ("assert", "credentials not from minio-root",
     lambda b, k: _minio_ctr(b)["envFrom"][0]["secretRef"].__setitem__("name", "other")),
    ("assert", "container runs as root",
     lambda b, k: (_minio_ctr(b)["securityContext"].__setitem__("runAsUser", 0),
                   _sts(b)["spec"]["template"]["spec"]["securityContext"]
                   .__setitem__("runAsUser", 0))),
    ("assert", "container runAsNonRoot false",
     lambda b, k: _minio_ctr(b)["securityContext"].__setitem__("runAsNonRoot", False)),
    ("assert", "privilege escalation allowed",
     lambda b, k: _minio_ctr(b)["securityContext"].pop("allowPrivilegeEscalation")),
    ("assert", "capabilities not dropped",
     lambda b, k: _minio_ctr(b)["securityContext"].pop("capabilities")),
    ("assert", "openfaas-fn Namespace rendered",
     lambda b, k: b.append({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": FN_NS}})),
    ("assert", "MinIO ingress open on 9001",
     lambda b, k: one(b, "NetworkPolicy", "minio-ingress", MINIO_NS)["spec"]["ingress"][0]
     ["ports"].append({"protocol": "TCP", "port": 9001})),
    ("assert", "MinIO ingress from everywhere",
     lambda b, k: one(b, "NetworkPolicy", "minio-ingress", MINIO_NS)["spec"]["ingress"][0]
     .__setitem__("from", [{"namespaceSelector": {}}])),
    ("assert", "fetch-incoming may reach 169.254.0.0/16",
     lambda b, k: _ipv4_except(b).remove("169.254.0.0/16")),
    ("assert", "fetch-incoming may reach 10.0.0.0/8",
     lambda b, k: _ipv4_except(b).remove("10.0.0.0/8")),
    ("assert", "fetch-incoming internet on all ports",
     lambda b, k: [r.pop("ports") for r in egress_rules(_np(b, "fetch-incoming"))
                   if any("ipBlock" in x for x in r["to"])]),
    ("assert", "get-object may reach the internet",
     lambda b, k: egress_rules(_np(b, "get-object")).append(
         copy.deepcopy([r for r in egress_rules(_np(b, "fetch-incoming"))
                        if any("ipBlock" in x for x in r["to"])][0]))),
    ("assert", "greyscale cannot reach the gateway",
     lambda b, k: _np(b, "greyscale")["spec"].__setitem__(
         "egress", [r for r in egress_rules(_np(b, "greyscale"))
                    if rule_ports(r) != {("TCP", 8080)}])),
    ("assert", "greyscale policy missing",
     lambda b, k: b.remove(_np(b, "greyscale"))),
    ("assert", "KEDA maxReplicaCount 10 (> CE limit 5)",
     lambda b, k: _so(k)["spec"].__setitem__("maxReplicaCount", 10)),
    ("assert", "KEDA minReplicaCount 0",
     lambda b, k: _so(k)["spec"].__setitem__("minReplicaCount", 0)),
    ("assert", "KEDA min > max",
     lambda b, k: (_so(k)["spec"].__setitem__("minReplicaCount", 4),
                   _so(k)["spec"].__setitem__("maxReplicaCount", 3))),
    ("assert", "KEDA threshold not numeric",
     lambda b, k: _trig_md(k).__setitem__("threshold", "fast")),
    ("assert", "KEDA threshold 0", lambda b, k: _trig_md(k).__setitem__("threshold", "0")),
    ("assert", "KEDA trigger type cpu",
     lambda b, k: _so(k)["spec"]["triggers"][0].__setitem__("type", "cpu")),
    ("assert", "KEDA query of another function",
     lambda b, k: _trig_md(k, "greyscale").__setitem__("query", _trig_md(k)["query"])),
    ("assert", "KEDA scaleTargetRef of an unknown function",
     lambda b, k: _so(k)["spec"]["scaleTargetRef"].__setitem__("name", "figlet")),
    ("assert", "KEDA ScaledObject missing", lambda b, k: k.remove(_so(k, "get-object"))),
    ("assert", "KEDA wrong Prometheus",
     lambda b, k: _trig_md(k).__setitem__("serverAddress", "http://prometheus:9090")),
    ("assert", "KEDA cooldownPeriod 300",
     lambda b, k: _so(k)["spec"].__setitem__("cooldownPeriod", 300)),
]


def self_test(base, keda, k8s_version, baseline_failures):
    missed = []
    for layer, name, mutate in MUTATIONS:
        b, k = copy.deepcopy(base), copy.deepcopy(keda)
        try:
            mutate(b, k)
        except Exception as e:  # the mutation no longer fits the manifests
            missed.append("%s (cannot apply: %r)" % (name, e))
            continue
        if layer == "schema":
            caught = any(schema_errors(o, k8s_version) for o in b + k)
        else:
            try:
                failed = len(run_assertions(b, k, None, {}, verbose=False).failed)
            except Exception:  # an assertion crashing on broken input also fails the run
                failed = baseline_failures + 1
            caught = failed > baseline_failures
        if not caught:
            missed.append(name)
    # The stack.yml cross-check: a target that differs from the threshold, or is missing.
    for name, stack in (("stack.yml target differs from the KEDA threshold",
                         {fn: "999" for fn in FUNCTIONS}),
                        ("stack.yml function without a scale target",
                         {fn: None for fn in FUNCTIONS})):
        failed = len(run_assertions(base, keda, None, stack, verbose=False).failed)
        if not failed > baseline_failures:
            missed.append(name)
    return missed


# --------------------------------------------------------------------------- render fallback

ALLOWED_KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources"}


class RenderError(Exception):
    pass


def render(directory):
    """Minimal `kubectl kustomize` for kustomizations that only list local resources."""
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        k = yaml.safe_load(f) or {}
    extra = set(k) - ALLOWED_KUSTOMIZE_KEYS
    if extra:
        raise RenderError("fallback renderer supports only %s; %s uses %s: install kubectl"
                          % (sorted(ALLOWED_KUSTOMIZE_KEYS), directory, sorted(extra)))
    out = []
    for r in k.get("resources") or []:
        path = os.path.join(directory, r)
        if os.path.isdir(path):
            out += render(path)
        else:
            out += load_docs(path)
    return out


def canonical(objs):
    return sorted(yaml.safe_dump(o, sort_keys=True) for o in objs)


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("dir")
    ck = sub.add_parser("check")
    ck.add_argument("--base", required=True)
    ck.add_argument("--keda", required=True)
    ck.add_argument("--k8s-dir", required=True)
    ck.add_argument("--stack", default=None)
    ck.add_argument("--k8s-version", default="1.30.0")
    ck.add_argument("--renderer", choices=("kubectl", "fallback"), default="kubectl",
                    help="what rendered --base/--keda")
    args = ap.parse_args()

    if args.cmd == "render":
        try:
            sys.stdout.write(yaml.safe_dump_all(render(args.dir), sort_keys=False))
        except RenderError as e:
            print("check_manifests.py: %s" % e, file=sys.stderr)
            return 1
        return 0

    base, keda = load_docs(args.base), load_docs(args.keda)
    objs = base + keda

    valid = 0
    schema_failed = []
    for o in objs:
        errs = schema_errors(o, args.k8s_version)
        if errs:
            schema_failed.append(kname(o))
            for e in errs:
                print("FAIL schema %s: %s" % (kname(o), e))
        else:
            valid += 1
    print("schema: %d/%d objects valid (Kubernetes %s strict; KEDA ScaledObject via "
          "cloudcoil.models.keda strict)" % (valid, len(objs), args.k8s_version))

    c = run_assertions(base, keda, args.k8s_dir, stack_targets(args.stack))

    # The fallback renderer must agree with kubectl, or it could not stand in for it.
    if args.renderer == "kubectl":
        for sub, rendered in (("", base), ("keda", keda)):
            try:
                same, why = canonical(render(os.path.join(args.k8s_dir, sub))) == \
                    canonical(rendered), "objects differ"
            except RenderError as e:
                same, why = False, str(e)
            c("fallback renderer agrees with kubectl kustomize (%s)"
              % os.path.join(args.k8s_dir, sub), same, why)
    else:
        print("note: rendered with the fallback renderer, not kubectl")

    if schema_failed or c.failed:
        print("self-test skipped: fix the failures above first")
    else:
        missed = self_test(base, keda, args.k8s_version, 0)
        for m in missed:
            print("FAIL self-test: breakage not detected: %s" % m)
        c("self-test: all %d deliberate breakages detected" % (len(MUTATIONS) + 2), not missed)

    if schema_failed or c.failed:
        print("k8s: FAILED: %d of %d objects invalid, %d checks failed, %d checks passed"
              % (len(schema_failed), len(objs), len(c.failed), c.passed))
        return 1
    print("k8s: %d objects valid, %d checks passed" % (valid, c.passed))
    return 0


if __name__ == "__main__":
    sys.exit(main())

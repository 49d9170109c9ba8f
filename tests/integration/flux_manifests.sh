#!/usr/bin/env bash
# The Flux manifests in manifests/flux, checked offline: each file parses (no duplicate keys),
# each object has apiVersion, kind and metadata.name, uses the API version of current Flux
# releases and only fields those APIs define (taken from the Go types of source-controller v1,
# image-reflector/image-automation-controller v1 (Flux 2.7, when the image APIs went GA) and
# notification-controller v1beta3), the references between them resolve, the Secret templates
# hold placeholders only, and the setter marker on the example Promotion's imageRef names the
# ImagePolicy, in the namespace the ImageUpdateAutomation watches, under its update path. Every
# rule is also shown to fire on a copy broken on purpose. Then a bump made as Flux's Setters
# strategy makes it leaves the example repository valid for `clawfleet validate`.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/tap.sh
tap_tmpdir
bin=${CLAWFLEET:-$PWD/build/clawfleet}

# The checker: python3 lint.py FLUX_DIR REPO_DIR prints one problem per line,
# "FILE: KIND/NAME: message" (FILE relative to its directory), and exits 1 when there is any;
# with --list it prints "KIND/NAMESPACE/NAME" for every object instead.
cat >"$TAP_TMP/lint.py" <<'PY'
import json
import os
import re
import sys
from urllib.parse import urlsplit

import yaml

flux_dir, repo_dir = sys.argv[1], sys.argv[2]
listing = len(sys.argv) > 3 and sys.argv[3] == "--list"
problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


class StrictLoader(yaml.SafeLoader):
    pass


def mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                             mapping_without_duplicates)

API = {
    "GitRepository": "source.toolkit.fluxcd.io/v1",
    "ImageRepository": "image.toolkit.fluxcd.io/v1",
    "ImagePolicy": "image.toolkit.fluxcd.io/v1",
    "ImageUpdateAutomation": "image.toolkit.fluxcd.io/v1",
    "Provider": "notification.toolkit.fluxcd.io/v1beta3",
    "Alert": "notification.toolkit.fluxcd.io/v1beta3",
    "Secret": "v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}

# A small schema language: ("obj", required, fields), ("list", item), ("enum", values),
# ("re", pattern), ("str",), ("bool",), ("any",).
STR, BOOL, ANY = ("str",), ("bool",), ("any",)
DURATION = ("re", r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
SHORT_DURATION = ("re", r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")


def obj(required=(), **fields):
    return ("obj", set(required), fields)


def lst(item):
    return ("list", item)


def enum(*values):
    return ("enum", values)


LOCAL_REF = obj(["name"], name=STR)
NAMESPACED_REF = obj(["name"], name=STR, namespace=STR)
GIT_REF = obj([], branch=STR, tag=STR, semver=STR, name=STR, commit=STR)
FLUX_KINDS = enum("Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart",
                  "HelmRepository", "ImageRepository", "ImagePolicy",
                  "ImageUpdateAutomation", "OCIRepository", "ArtifactGenerator",
                  "ExternalArtifact")
SPEC = {
    "GitRepository": obj(
        ["url", "interval"], url=("re", r"^(http|https|ssh)://.*$"), secretRef=LOCAL_REF,
        provider=enum("generic", "aws", "azure", "github"), serviceAccountName=STR,
        interval=DURATION, timeout=SHORT_DURATION, ref=GIT_REF,
        verify=obj(["secretRef"], mode=enum("head", "HEAD", "Tag", "TagAndHEAD"),
                   secretRef=LOCAL_REF),
        proxySecretRef=LOCAL_REF, ignore=STR, suspend=BOOL, recurseSubmodules=BOOL,
        include=lst(obj(["repository"], repository=LOCAL_REF, fromPath=STR, toPath=STR)),
        sparseCheckout=lst(STR)),
    "ImageRepository": obj(
        ["image", "interval"], image=STR, interval=DURATION, timeout=SHORT_DURATION,
        secretRef=LOCAL_REF, proxySecretRef=LOCAL_REF, serviceAccountName=STR,
        certSecretRef=LOCAL_REF, suspend=BOOL, accessFrom=ANY, exclusionList=lst(STR),
        provider=enum("generic", "aws", "azure", "gcp"), insecure=BOOL),
    "ImagePolicy": obj(
        ["imageRepositoryRef", "policy"], imageRepositoryRef=NAMESPACED_REF,
        policy=obj([], semver=obj(["range"], range=STR),
                   alphabetical=obj([], order=enum("asc", "desc")),
                   numerical=obj([], order=enum("asc", "desc"))),
        filterTags=obj([], pattern=STR, extract=STR),
        digestReflectionPolicy=enum("Always", "IfNotPresent", "Never"), interval=DURATION,
        suspend=BOOL),
    "ImageUpdateAutomation": obj(
        ["sourceRef", "interval"],
        sourceRef=obj(["name"], apiVersion=STR, kind=enum("GitRepository"), name=STR,
                      namespace=STR),
        git=obj(["commit"], checkout=obj(["ref"], ref=GIT_REF),
                commit=obj(["author"], author=obj(["email"], name=STR, email=STR),
                           signingKey=obj(["secretRef"], secretRef=LOCAL_REF,
                                          type=enum("gpg", "ssh")),
                           messageTemplate=STR, messageTemplateValues=ANY),
                push=obj([], branch=STR, refspec=STR, options=ANY)),
        interval=DURATION, policySelector=ANY,
        update=obj([], strategy=enum("Setters"), path=STR), suspend=BOOL),
    "Provider": obj(
        ["type"],
        type=enum("slack", "discord", "msteams", "rocket", "generic", "generic-hmac", "github",
                  "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops",
                  "googlechat", "googlepubsub", "webex", "sentry", "azureeventhub", "telegram",
                  "lark", "matrix", "opsgenie", "alertmanager", "grafana", "githubdispatch",
                  "pagerduty", "datadog", "nats"),
        interval=DURATION, channel=STR, username=STR, address=STR, timeout=SHORT_DURATION,
        proxy=STR, proxySecretRef=LOCAL_REF, secretRef=LOCAL_REF, serviceAccountName=STR,
        certSecretRef=LOCAL_REF, suspend=BOOL, commitStatusExpr=STR),
    "Alert": obj(
        ["providerRef", "eventSources"], providerRef=LOCAL_REF,
        eventSeverity=enum("info", "error"),
        eventSources=lst(obj(["kind", "name"], apiVersion=STR, kind=FLUX_KINDS, name=STR,
                             namespace=STR, matchLabels=ANY)),
        inclusionList=lst(STR), eventMetadata=ANY, exclusionList=lst(STR), summary=STR,
        suspend=BOOL),
}
METADATA = obj(["name", "namespace"], name=STR, namespace=STR, labels=ANY, annotations=ANY)
TOP = {
    "Secret": obj(["apiVersion", "kind", "metadata"], apiVersion=STR, kind=STR,
                  metadata=METADATA, type=STR, stringData=ANY, data=ANY, immutable=BOOL),
    "Kustomization": obj(["apiVersion", "kind", "resources"], apiVersion=STR, kind=STR,
                         metadata=obj(["name"], name=STR, annotations=ANY),
                         resources=lst(STR)),
}
for flux_kind, spec_shape in SPEC.items():
    TOP[flux_kind] = obj(["apiVersion", "kind", "metadata", "spec"], apiVersion=STR, kind=STR,
                         metadata=METADATA, spec=spec_shape)


def check_shape(where, path, value, shape):
    tag = shape[0]
    if tag == "any":
        return
    if tag == "obj":
        if not isinstance(value, dict):
            problem(where, f"{path}: must be a map")
            return
        for key in sorted(shape[1] - value.keys()):
            problem(where, f"{path}.{key}: required")
        for key, sub in value.items():
            if key not in shape[2]:
                problem(where, f"{path}.{key}: unknown field {key!r}")
            else:
                check_shape(where, f"{path}.{key}", sub, shape[2][key])
    elif tag == "list":
        if not isinstance(value, list):
            problem(where, f"{path}: must be a list")
            return
        for i, item in enumerate(value):
            check_shape(where, f"{path}[{i}]", item, shape[1])
    elif tag == "bool":
        if not isinstance(value, bool):
            problem(where, f"{path}: must be true or false")
    elif not isinstance(value, str):
        problem(where, f"{path}: must be a string")
    elif tag == "enum" and value not in shape[1]:
        problem(where, f"{path}: {value!r} is not one of {', '.join(shape[1])}")
    elif tag == "re" and not re.search(shape[1], value):
        problem(where, f"{path}: {value!r} does not match {shape[1]}")


# Load every document of every file.
objects = []  # (file, doc)
for name in sorted(os.listdir(flux_dir)):
    if not name.endswith((".yaml", ".yml")):
        continue
    try:
        with open(os.path.join(flux_dir, name), encoding="utf-8") as f:
            docs = [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        problem(f"{name}:{mark.line + 1}:{mark.column + 1}", f"-: not valid YAML: {e.problem}")
        continue
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        problem(name, f"-: not valid YAML: {' '.join(str(e).split())}")
        continue
    if not docs:
        problem(name, "-: holds no object")
    for doc in docs:
        if not isinstance(doc, dict):
            problem(name, "-: a document that is not a map")
            continue
        objects.append((name, doc))


def label(doc):
    meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    return f"{doc.get('kind', '-')}/{meta.get('name', '-')}"


index = {}
for name, doc in objects:
    where = f"{name}: {label(doc)}"
    kind = doc.get("kind")
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            problem(where, f"{key}: required")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) \
            or not meta.get("name"):
        problem(where, "metadata.name: required")
        continue
    if kind not in API:
        problem(where, f"kind: {kind!r} is not one clawfleet runs beside")
        continue
    if doc.get("apiVersion") != API[kind]:
        problem(where, f"apiVersion: {doc.get('apiVersion')}, expected {API[kind]}")
    check_shape(where, "", doc, TOP[kind])
    key = (kind, meta.get("namespace"), meta["name"])
    if key in index:
        problem(where, f"defined twice (also in {index[key][0]})")
    index[key] = (name, doc)



def in_order(keys):
    return sorted(keys, key=lambda k: (k[0], k[1] or "", k[2]))


if listing:
    for kind, ns, name in in_order(index):
        print(f"{kind}/{ns or '-'}/{name}")
    sys.exit(0)


def lookup(kind, ns, name):
    return index.get((kind, ns, name), (None, None))[1]


def spec_of(doc):
    return doc.get("spec") if isinstance(doc.get("spec"), dict) else {}


def ref_name(value):
    return value.get("name") if isinstance(value, dict) else None


def map_of(value):
    return value if isinstance(value, dict) else {}


def of_kind(kind):
    return [index[key] for key in in_order(index) if key[0] == kind]


def updates(automation, rel):
    """Whether the automation's spec.update.path (default: the repository root) holds rel."""
    path = os.path.normpath(map_of(spec_of(automation).get("update")).get("path") or ".")
    return path == "." or rel.startswith(path + "/")


def must_exist(where, field, kind, ns, name):
    if name is not None and lookup(kind, ns, name) is None:
        problem(where, f"{field}: no {kind} {ns}/{name} in {os.path.basename(flux_dir)}")


PLACEHOLDER = re.compile(r"^<[^<>]+>$")
for name, doc in of_kind("Secret"):
    where = f"{name}: {label(doc)}"
    annotations = map_of(doc["metadata"].get("annotations"))
    if annotations.get("config.kubernetes.io/local-config") != "true":
        problem(where, "metadata.annotations: a Secret template needs "
                "config.kubernetes.io/local-config: \"true\", so kustomize never applies it")
    if "data" in doc:
        problem(where, "data: a template holds stringData placeholders, never encoded values")
    for key, value in map_of(doc.get("stringData")).items():
        if key == "headers":
            try:
                headers = yaml.safe_load(value)
            except yaml.YAMLError:
                headers = None
            if not isinstance(headers, dict):
                problem(where, "stringData.headers: must be a YAML map of header: value")
                continue
            for header, hvalue in headers.items():
                if str(header).lower() == "authorization" and \
                        not re.match(r"^Bearer <[^<>]+>$", str(hvalue)):
                    problem(where, f"stringData.headers.{header}: must be "
                            "\"Bearer <placeholder>\", never a real token")
        elif not PLACEHOLDER.match(str(value)):
            problem(where, f"stringData.{key}: must be a <placeholder>, never a real value")

for name, doc in of_kind("GitRepository"):
    ns = doc["metadata"].get("namespace")
    must_exist(f"{name}: {label(doc)}", "spec.secretRef", "Secret", ns,
               ref_name(spec_of(doc).get("secretRef")))

for name, doc in of_kind("ImagePolicy"):
    ns = doc["metadata"].get("namespace")
    ref = map_of(spec_of(doc).get("imageRepositoryRef"))
    must_exist(f"{name}: {label(doc)}", "spec.imageRepositoryRef", "ImageRepository",
               ref.get("namespace", ns), ref.get("name"))

for name, doc in of_kind("ImageUpdateAutomation"):
    ns = doc["metadata"].get("namespace")
    ref = map_of(spec_of(doc).get("sourceRef"))
    must_exist(f"{name}: {label(doc)}", "spec.sourceRef", "GitRepository",
               ref.get("namespace", ns), ref.get("name"))

providers = of_kind("Provider")
for name, doc in providers:
    where = f"{name}: {label(doc)}"
    ns = doc["metadata"].get("namespace")
    spec = spec_of(doc)
    kind = spec.get("type")
    url = urlsplit(str(spec.get("address", "")))
    if url.scheme not in ("http", "https") or url.path != "/hook/flux":
        problem(where, f"spec.address: {spec.get('address')!r} is not the controller's "
                "http(s)://HOST[:PORT]/hook/flux")
    secret_name = ref_name(spec.get("secretRef"))
    secret = lookup("Secret", ns, secret_name)
    if secret is None:
        problem(where, f"spec.secretRef: no Secret template {ns}/{secret_name}")
        continue
    data = map_of(secret.get("stringData"))
    try:
        headers = {str(k).lower(): v
                   for k, v in map_of(yaml.safe_load(str(data.get("headers", "")))).items()}
    except yaml.YAMLError:
        headers = {}
    if "x-flux-event" not in headers:
        problem(where, f"Secret {secret_name}: headers must set x-flux-event, "
                "the receiver answers 400 without it")
    if kind == "generic" and "authorization" not in headers:
        problem(where, f"Secret {secret_name}: headers must set Authorization: Bearer, "
                "the generic provider sends nothing else to authenticate")
    if kind == "generic-hmac":
        if "token" not in data:
            problem(where, f"Secret {secret_name}: the HMAC key is its token key, missing")
        if "authorization" in headers:
            problem(where, f"Secret {secret_name}: a generic-hmac delivery signs with the "
                    "token; sending it in Authorization too puts it back on the wire")
if not {spec_of(d).get("type") for _, d in providers} >= {"generic", "generic-hmac"}:
    problem("-", "a Provider of type generic and one of type generic-hmac are needed")

for name, doc in of_kind("Alert"):
    where = f"{name}: {label(doc)}"
    ns = doc["metadata"].get("namespace")
    spec = spec_of(doc)
    must_exist(where, "spec.providerRef", "Provider", ns, ref_name(spec.get("providerRef")))
    sources = spec.get("eventSources") or []
    for i, src in enumerate(sources):
        if isinstance(src, dict) and src.get("name") != "*":
            must_exist(where, f"spec.eventSources[{i}]", src.get("kind"),
                       src.get("namespace", ns), src.get("name"))
    if not any(isinstance(s, dict) and s.get("kind") == "ImageUpdateAutomation"
               for s in sources):
        problem(where, "spec.eventSources: the ImageUpdateAutomation's events must reach "
                "the controller")

secret_files = {f for f, d in objects if d.get("kind") == "Secret"}
applied_files = {f for f, d in objects if d.get("kind") not in ("Secret", "Kustomization")}
for name, doc in of_kind("Kustomization"):
    where = f"{name}: {label(doc)}"
    listed = set(r for r in doc.get("resources") or [] if isinstance(r, str))
    for res in sorted(listed - applied_files - secret_files):
        problem(where, f"resources: {res} is not a manifest here")
    for res in sorted(listed & secret_files):
        problem(where, f"resources: {res} holds Secret templates and must not be applied")
    for res in sorted(applied_files - listed):
        problem(where, f"resources: {res} is missing")

# The setter markers in the desired state: each names an ImagePolicy Flux can apply there.
MARKER = re.compile(r'#\s*(\{"\$imagepolicy":\s*"[^"]*"\})\s*$')
automations = of_kind("ImageUpdateAutomation")
marked_image_refs = 0
clawfleet_dir = os.path.join(repo_dir, "clawfleet")
for fname in sorted(f for f in os.listdir(clawfleet_dir) if f.endswith(".yaml")):
    rel = f"clawfleet/{fname}"
    path = os.path.join(clawfleet_dir, fname)
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        m = MARKER.search(line)
        if not m:
            continue
        where = f"{rel}:{lineno}"
        setter = json.loads(m.group(1))["$imagepolicy"]
        parts = setter.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and
                                        parts[2] not in ("tag", "name", "digest")):
            problem(where, f"setter {setter!r} is not NAMESPACE:NAME[:tag|:name|:digest]")
            continue
        ns, policy_name = parts[0], parts[1]
        policy = lookup("ImagePolicy", ns, policy_name)
        if policy is None:
            problem(where, f"setter {setter!r}: no ImagePolicy {ns}/{policy_name} in "
                    f"{os.path.basename(flux_dir)}")
            continue
        watching = [d for _, d in automations if d["metadata"].get("namespace") == ns]
        if not watching:
            problem(where, f"setter {setter!r}: no ImageUpdateAutomation in namespace {ns}, "
                    "the only one that applies its policies")
        elif not any(updates(d, rel) for d in watching):
            problem(where, f"setter {setter!r}: outside every ImageUpdateAutomation's "
                    "spec.update.path")
        key, _, value = line[:m.start()].strip().partition(":")
        if key.strip() != "imageRef" or len(parts) != 2:
            continue
        marked_image_refs += 1
        # Flux rewrites only markers in YAML comments: the line must parse to its value.
        with open(path, encoding="utf-8") as f:
            promotions = [d for d in yaml.safe_load_all(f)
                          if isinstance(d, dict) and d.get("kind") == "Promotion"]
        if value.strip() not in [str(spec_of(d).get("imageRef")) for d in promotions]:
            problem(where, "the marker is not a comment on the Promotion's spec.imageRef")
        repo_ref = map_of(spec_of(policy).get("imageRepositoryRef"))
        image_repo = lookup("ImageRepository", repo_ref.get("namespace", ns),
                            repo_ref.get("name"))
        image, _, tag = value.strip().rpartition(":")
        if image_repo is not None and image != spec_of(image_repo).get("image"):
            problem(where, f"imageRef {value.strip()!r} is not an image of ImageRepository "
                    f"{ns}/{repo_ref.get('name')} ({spec_of(image_repo).get('image')})")
        pattern = map_of(spec_of(policy).get("filterTags")).get("pattern")
        if pattern and not re.search(pattern, tag):
            problem(where, f"imageRef tag {tag!r} is one ImagePolicy {ns}/{policy_name} "
                    f"filters out ({pattern})")
if marked_image_refs == 0:
    problem("clawfleet/", "no Promotion spec.imageRef carries a {\"$imagepolicy\": "
            "\"NAMESPACE:NAME\"} marker, so Flux cannot bump it")

for line in problems:
    print(line)
sys.exit(1 if problems else 0)
PY

lint() { python3 "$TAP_TMP/lint.py" "$@" 2>&1; echo "exit $?"; }

if ! python3 -c 'import yaml' 2>/dev/null; then
	tap_fail "python3 with PyYAML is available" "run hack/install-deps.sh"
	tap_done
	exit
fi

out=$(lint manifests/flux manifests/example-repo)
tap_eq "manifests/flux and the example repository pass every check" "exit 0" "$out"

out=$(python3 "$TAP_TMP/lint.py" manifests/flux manifests/example-repo --list 2>&1)
tap_eq "the directory holds each Flux object clawfleet runs beside, in flux-system" \
	"Alert/flux-system/clawfleet
GitRepository/flux-system/openclaw-fleet
ImagePolicy/flux-system/openclaw-gateway
ImageRepository/flux-system/openclaw-gateway
ImageUpdateAutomation/flux-system/openclaw-fleet
Kustomization/-/clawfleet-flux
Provider/flux-system/clawfleet
Provider/flux-system/clawfleet-hmac
Secret/flux-system/clawfleet-webhook
Secret/flux-system/clawfleet-webhook-hmac
Secret/flux-system/openclaw-fleet-git" "$out"

# broken DESCRIPTION EXPECTED FILE SED_SCRIPT: the checker refuses a copy of manifests/flux
# (flux/...) and of the example repository (repo/...) with FILE edited by SED_SCRIPT, naming
# the problem EXPECTED. The edit must change the file, or the case proves nothing.
broken() {
	local desc=$1 expected=$2 file=$3 script=$4 case_dir="$TAP_TMP/case"
	rm -rf "$case_dir"
	mkdir "$case_dir"
	cp -R manifests/flux "$case_dir/flux"
	cp -R manifests/example-repo "$case_dir/repo"
	sed -i -e "$script" "$case_dir/$file"
	local base=manifests/flux/${file#flux/}
	[ "${file#repo/}" != "$file" ] && base=manifests/example-repo/${file#repo/}
	if cmp -s "$base" "$case_dir/$file"; then
		tap_fail "$desc" "the edit '$script' did not change $file"
		return
	fi
	out=$(lint "$case_dir/flux" "$case_dir/repo")
	case "$out" in
	*"$expected"*"exit 1") tap_ok "$desc" ;;
	*) tap_fail "$desc" "expected to contain: $expected" "and to exit 1" "actual: $out" ;;
	esac
}

broken "the image APIs of Flux before 2.7 (v1beta2) are refused" \
	"imagepolicy.yaml: ImagePolicy/openclaw-gateway: apiVersion: image.toolkit.fluxcd.io/v1beta2, expected image.toolkit.fluxcd.io/v1" \
	flux/imagepolicy.yaml 's|image.toolkit.fluxcd.io/v1|image.toolkit.fluxcd.io/v1beta2|'
broken "a notification API other than v1beta3 for Provider is refused" \
	"provider.yaml: Provider/clawfleet: apiVersion: notification.toolkit.fluxcd.io/v1beta2, expected notification.toolkit.fluxcd.io/v1beta3" \
	flux/provider.yaml 's|/v1beta3|/v1beta2|'
broken "the GitRepository API other than v1 is refused" \
	"gitrepository.yaml: GitRepository/openclaw-fleet: apiVersion: source.toolkit.fluxcd.io/v1beta2, expected source.toolkit.fluxcd.io/v1" \
	flux/gitrepository.yaml 's|source.toolkit.fluxcd.io/v1|source.toolkit.fluxcd.io/v1beta2|'
broken "an object without metadata.name is refused" \
	"alert.yaml: Alert/-: metadata.name: required" \
	flux/alert.yaml '/^  name: clawfleet$/d'
broken "an object without kind is refused" \
	"imagerepository.yaml: -/openclaw-gateway: kind: required" \
	flux/imagerepository.yaml '/^kind:/d'
broken "a field the Flux API does not define is refused" \
	"imageupdateautomation.yaml: ImageUpdateAutomation/openclaw-fleet: .spec.update.stratgy: unknown field 'stratgy'" \
	flux/imageupdateautomation.yaml 's/strategy: Setters/stratgy: Setters/'
broken "a required Flux field left out is refused" \
	"imageupdateautomation.yaml: ImageUpdateAutomation/openclaw-fleet: .spec.git.commit.author.email: required" \
	flux/imageupdateautomation.yaml '/email: fluxcdbot/d'
broken "a value outside the API's enum is refused" \
	"imageupdateautomation.yaml: ImageUpdateAutomation/openclaw-fleet: .spec.update.strategy: 'setters' is not one of Setters" \
	flux/imageupdateautomation.yaml 's/strategy: Setters/strategy: setters/'
broken "a duplicate key is refused" \
	"imagerepository.yaml:11:3: -: not valid YAML: duplicate key 'interval'" \
	flux/imagerepository.yaml 's/^  interval: 10m$/  interval: 10m\n  interval: 5m/'
broken "a YAML syntax error is refused" \
	"gitrepository.yaml:14:12: -: not valid YAML: expected ',' or ']', but got ':'" \
	flux/gitrepository.yaml 's/^  ref:$/  ref: [/'
broken "a setter marker naming another ImagePolicy is refused" \
	"clawfleet/promotion.yaml:9: setter 'flux-system:openclaw': no ImagePolicy flux-system/openclaw in flux" \
	repo/clawfleet/promotion.yaml 's/flux-system:openclaw-gateway/flux-system:openclaw/'
broken "renaming the ImagePolicy without the marker is refused" \
	"setter 'flux-system:openclaw-gateway': no ImagePolicy flux-system/openclaw-gateway" \
	flux/imagepolicy.yaml 's/^  name: openclaw-gateway$/  name: gateway-images/'
broken "an ImageUpdateAutomation outside the policy's namespace is refused" \
	"setter 'flux-system:openclaw-gateway': no ImageUpdateAutomation in namespace flux-system" \
	flux/imageupdateautomation.yaml 's/namespace: flux-system/namespace: apps/'
broken "an update path that leaves the Promotion out is refused" \
	"setter 'flux-system:openclaw-gateway': outside every ImageUpdateAutomation's spec.update.path" \
	flux/imageupdateautomation.yaml 's|path: ./clawfleet|path: ./tenants|'
broken "a Promotion without the marker is refused" \
	"no Promotion spec.imageRef carries a" \
	repo/clawfleet/promotion.yaml 's/ # {"$imagepolicy": "flux-system:openclaw-gateway"}//'
broken "an imageRef of another image than the ImageRepository's is refused" \
	"imageRef 'ghcr.io/other/gateway:2026.7.1' is not an image of ImageRepository flux-system/openclaw-gateway" \
	repo/clawfleet/promotion.yaml 's|ghcr.io/example/openclaw-gateway|ghcr.io/other/gateway|'
broken "an imageRef tag the policy filters out is refused" \
	"imageRef tag '2026.7.1-beta.1' is one ImagePolicy flux-system/openclaw-gateway filters out" \
	repo/clawfleet/promotion.yaml 's|openclaw-gateway:2026.7.1|openclaw-gateway:2026.7.1-beta.1|'
broken "a real bearer token in a Secret template is refused" \
	"secrets.yaml: Secret/clawfleet-webhook: stringData.headers.Authorization: must be \"Bearer <placeholder>\"" \
	flux/secrets.yaml "0,/Bearer <[^>]*>/s//Bearer 3f2a9c0d1e7b/"
broken "a real HMAC key in a Secret template is refused" \
	"secrets.yaml: Secret/clawfleet-webhook-hmac: stringData.token: must be a <placeholder>" \
	flux/secrets.yaml 's/^  token: .*/  token: 7152fed34dd6149a7c75a276c510da27cb6f82b0/'
broken "a Secret template kustomize would apply is refused" \
	"secrets.yaml: Secret/openclaw-fleet-git: metadata.annotations: a Secret template needs" \
	flux/secrets.yaml '$!N;/name: openclaw-fleet-git\n  namespace: flux-system/{n;n;d};P;D'
broken "a generic Provider without the bearer header is refused" \
	"provider.yaml: Provider/clawfleet: Secret clawfleet-webhook: headers must set Authorization: Bearer" \
	flux/secrets.yaml '/^    Authorization: Bearer/d'
broken "a Provider without the x-flux-event header is refused" \
	"Secret clawfleet-webhook-hmac: headers must set x-flux-event" \
	flux/secrets.yaml '/^  headers: |$/{N;s/\n    x-flux-event: image-update$//}'
broken "a generic-hmac Provider sending the token in a header too is refused" \
	"sending it in Authorization too puts it back on the wire" \
	flux/secrets.yaml '/^  token: /,/^---/s/^    x-flux-event: image-update$/    Authorization: Bearer <the token>\n&/'
broken "a Provider address other than the receiver's path is refused" \
	"provider-hmac.yaml: Provider/clawfleet-hmac: spec.address: 'http://writer.fleet.example:8088/hook' is not the controller's" \
	flux/provider-hmac.yaml 's|/hook/flux|/hook|'
broken "an Alert naming a missing Provider is refused" \
	"alert.yaml: Alert/clawfleet: spec.providerRef: no Provider flux-system/clawfleet-generic" \
	flux/alert.yaml 's/^    name: clawfleet$/    name: clawfleet-generic/'
broken "an Alert without the ImageUpdateAutomation's events is refused" \
	"alert.yaml: Alert/clawfleet: spec.eventSources: the ImageUpdateAutomation's events must reach the controller" \
	flux/alert.yaml '/kind: ImageUpdateAutomation/,+1d'
broken "a kustomization that applies the Secret templates is refused" \
	"kustomization.yaml: Kustomization/clawfleet-flux: resources: secrets.yaml holds Secret templates and must not be applied" \
	flux/kustomization.yaml '$a\  - secrets.yaml'
broken "a kustomization missing a manifest is refused" \
	"kustomization.yaml: Kustomization/clawfleet-flux: resources: alert.yaml is missing" \
	flux/kustomization.yaml '/- alert.yaml/d'

if [ ! -x "$bin" ]; then
	tap_fail "the clawfleet binary is built" "missing: $bin"
	tap_done
	exit
fi

out=$("$bin" validate manifests/example-repo 2>&1; echo "exit $?")
tap_eq "clawfleet validate still passes on the example repository" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion
exit 0" "$out"

# Flux's Setters strategy replaces the whole value of a line marked with NAMESPACE:NAME by the
# policy's latest image; the repository must stay valid through such a commit.
bumped="$TAP_TMP/bumped"
cp -R manifests/example-repo "$bumped"
sed -i -E 's|^(  imageRef: )[^ ]+( # \{"\$imagepolicy": "flux-system:openclaw-gateway"\})$|\1ghcr.io/example/openclaw-gateway:2026.8.0\2|' \
	"$bumped/clawfleet/promotion.yaml"
tap_contains "the marked imageRef takes the new image as Flux writes it" \
	'imageRef: ghcr.io/example/openclaw-gateway:2026.8.0 # {"$imagepolicy": "flux-system:openclaw-gateway"}' \
	"$(cat "$bumped/clawfleet/promotion.yaml")"
out=$("$bin" validate "$bumped" 2>&1; echo "exit $?")
tap_eq "the repository stays valid after the image bump" \
	"configuration OK: 3 nodes, 2 tenants, 1 promotion
exit 0" "$out"
out=$(lint manifests/flux "$bumped")
tap_eq "and the bumped imageRef still matches the ImageRepository and the policy" "exit 0" "$out"

tap_done

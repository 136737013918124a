"""imgsec.pin on custom resources whose pod template or containers sit at a known path.

Each manifest below is written from the project's own documented examples (Argo Rollouts "Rollout
spec", Knative Serving "hello world", Argo Workflows "hello-world"/"scripts"/"sidecars"/"init
containers"/"container set" and "cron workflows", Tekton "Tasks", OpenShift "DeploymentConfig"),
from memory of their published API shapes, not from imgsec's tables. Where each image is comes from
those documents too: the test reads it back with PyYAML at an explicit path, independently of the
node walker under test, and the rest of the file must be byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from imgsec.pin import pin_text
from imgsec.reference import Reference

DIGEST = "sha256:" + "5e" * 32


def fixed(ref: Reference) -> str:
    assert ref.digest is None
    return DIGEST


def _pinned(image: str) -> str:
    tagged = image if ":" in image.rsplit("/", 1)[-1] else image + ":latest"
    return f"{tagged}@{DIGEST}"


ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
spec:
  replicas: 5
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 40
      - pause: {duration: 10}
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollouts-demo
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue   # the demo's first colour
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
"""

KNATIVE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/target: "10"
    spec:
      containers:
        - image: "ghcr.io/knative/helloworld-go:latest"
          ports:
            - containerPort: 8080
          env:
            - name: TARGET
              value: "World"
---
apiVersion: serving.knative.dev/v1
kind: Configuration
metadata:
  name: my-service
  namespace: default
spec:
  template:
    spec:
      containers:
        - image: gcr.io/knative-samples/helloworld-go
          env:
            - name: TARGET
              value: "Go Sample v1"
"""

ARGO_WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: hello-world-
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - name: hello
        template: whalesay
    - - name: gen
        template: gen-random-int
  - name: whalesay
    container:
      image: docker/whalesay:latest
      command: [cowsay]
      args: ["hello world"]
  - name: gen-random-int
    script:
      image: python:alpine3.6
      command: [python]
      source: |
        import random
        i = random.randint(1, 100)
        print(i)
  - name: influx
    container:
      image: appropriate/curl:latest
      command: ["sh", "-c"]
      args: ["until curl -XPOST 'http://127.0.0.1:8086/query' --data-urlencode 'q=CREATE DATABASE mydb' ; do sleep .5; done"]
    sidecars:
    - name: influxdb
      image: influxdb:1.2
      command: [influxd]
  - name: init-container-example
    container:
      image: alpine:latest
      command: ["echo", "bye"]
    initContainers:
    - name: hello
      image: 'alpine:3.19'
      command: ["echo", "hello"]
  - name: set
    containerSet:
      containers:
        - name: a
          image: argoproj/argosay:v2
"""

WORKFLOW_TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata:
  name: workflow-template-submittable
spec:
  entrypoint: whalesay-template
  arguments:
    parameters:
      - name: message
        value: hello world
  templates:
    - name: whalesay-template
      inputs:
        parameters:
          - name: message
      container:
        image: docker/whalesay
        command: [cowsay]
        args: ["{{inputs.parameters.message}}"]
"""

CRON_WORKFLOW = """\
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata:
  name: test-cron-wf
spec:
  schedule: "* * * * *"
  concurrencyPolicy: "Replace"
  startingDeadlineSeconds: 0
  workflowSpec:
    entrypoint: whalesay
    templates:
    - name: whalesay
      container:
        image: alpine:3.6
        command: [sh, -c]
        args: ["date; sleep 90"]
"""

TEKTON = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: example-task-name
spec:
  params:
    - name: pathToDockerFile
      type: string
      description: The path to the dockerfile to build
      default: /workspace/workspace/Dockerfile
  steps:
    - name: ubuntu-example
      image: ubuntu
      args: ["ubuntu-build-example", "SECRETS-example.md"]
    - image: gcr.io/example-builders/build-example
      command: ["echo"]
      args: ["$(params.pathToDockerFile)"]
    - name: dockerfile-pushexample
      image: gcr.io/example-builders/push-example
      args: ["push", "$(resources.outputs.builtImage.url)"]
  sidecars:
    - image: docker:18.05-dind
      name: server
      securityContext:
        privileged: true
---
apiVersion: tekton.dev/v1beta1
kind: ClusterTask
metadata:
  name: echo
spec:
  stepTemplate:
    image: busybox:1.36
  steps:
    - name: echo
      script: |
        echo hello
"""

DEPLOYMENT_CONFIG = """\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: frontend
spec:
  replicas: 5
  selector:
    name: frontend
  template:
    metadata:
      labels:
        name: frontend
    spec:
      containers:
        - image: openshift/hello-openshift
          name: helloworld
          ports:
            - containerPort: 8080
              protocol: TCP
  triggers:
    - type: ConfigChange
    - imageChangeParams:
        automatic: true
        containerNames:
          - helloworld
        from:
          kind: ImageStreamTag
          name: hello-openshift:latest
      type: ImageChange
  strategy:
    type: Rolling
"""

Docs = list[Any]
Getter = Callable[[Docs], list[str]]

CASES: list[tuple[str, str, Getter]] = [
    (
        "rollout",
        ROLLOUT,
        lambda d: [d[0]["spec"]["template"]["spec"]["containers"][0]["image"]],
    ),
    (
        "knative",
        KNATIVE,
        lambda d: [
            d[0]["spec"]["template"]["spec"]["containers"][0]["image"],
            d[1]["spec"]["template"]["spec"]["containers"][0]["image"],
        ],
    ),
    (
        "argo-workflow",
        ARGO_WORKFLOW,
        lambda d: [
            d[0]["spec"]["templates"][1]["container"]["image"],
            d[0]["spec"]["templates"][2]["script"]["image"],
            d[0]["spec"]["templates"][3]["container"]["image"],
            d[0]["spec"]["templates"][3]["sidecars"][0]["image"],
            d[0]["spec"]["templates"][4]["container"]["image"],
            d[0]["spec"]["templates"][4]["initContainers"][0]["image"],
            d[0]["spec"]["templates"][5]["containerSet"]["containers"][0]["image"],
        ],
    ),
    (
        "workflow-template",
        WORKFLOW_TEMPLATE,
        lambda d: [d[0]["spec"]["templates"][0]["container"]["image"]],
    ),
    (
        "cluster-workflow-template",
        WORKFLOW_TEMPLATE.replace("kind: WorkflowTemplate", "kind: ClusterWorkflowTemplate"),
        lambda d: [d[0]["spec"]["templates"][0]["container"]["image"]],
    ),
    (
        "cron-workflow",
        CRON_WORKFLOW,
        lambda d: [d[0]["spec"]["workflowSpec"]["templates"][0]["container"]["image"]],
    ),
    (
        "tekton",
        TEKTON,
        lambda d: [
            *(step["image"] for step in d[0]["spec"]["steps"]),
            d[0]["spec"]["sidecars"][0]["image"],
            d[1]["spec"]["stepTemplate"]["image"],
        ],
    ),
    (
        "deployment-config",
        DEPLOYMENT_CONFIG,
        lambda d: [d[0]["spec"]["template"]["spec"]["containers"][0]["image"]],
    ),
]


@pytest.mark.parametrize(("name", "text", "images"), CASES, ids=[c[0] for c in CASES])
def test_crd_images_pinned_rest_byte_identical(name: str, text: str, images: Getter) -> None:
    before = images(list(yaml.safe_load_all(text)))
    outcome = pin_text(text, "yaml", f"{name}.yaml", fixed)
    after = images(list(yaml.safe_load_all(outcome.rewritten)))
    assert after == [_pinned(i) for i in before]
    assert sorted(r.old for r in outcome.results) == sorted(before)
    assert {r.status for r in outcome.results} == {"pinned"}
    # Only the image bytes changed: rewriting the pins back gives the original file exactly.
    undone = outcome.rewritten
    for image in dict.fromkeys(before):
        undone = undone.replace(_pinned(image), image)
    assert undone == text
    # The whole document, image strings aside, is the same data.
    assert list(yaml.safe_load_all(undone)) == list(yaml.safe_load_all(text))


def test_same_kind_other_group_is_not_a_workload() -> None:
    # A core v1 Service has no pod template; one shaped like Knative's must not be touched, and the
    # OpenKruise Rollout (rollouts.kruise.io) refers to a workload instead of holding a template.
    text = (
        "apiVersion: v1\nkind: Service\nspec:\n  template:\n    spec:\n      containers:\n"
        "      - image: nginx:1\n---\n"
        "apiVersion: rollouts.kruise.io/v1alpha1\nkind: Rollout\nspec:\n  template:\n    spec:\n"
        "      containers:\n      - image: nginx:1\n---\n"
        "kind: Workflow\nspec:\n  templates:\n  - container: {image: nginx:1}\n"
    )
    outcome = pin_text(text, "yaml", "other.yaml", fixed)
    assert outcome.results == () and not outcome.changed


def test_parameterised_images_are_skipped_with_a_reason() -> None:
    text = (
        "apiVersion: tekton.dev/v1\nkind: Task\nspec:\n  steps:\n"
        "  - image: $(params.builderImage)\n  - image: alpine:3.19\n---\n"
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates:\n"
        "  - container: {image: '{{inputs.parameters.image}}'}\n"
    )
    outcome = pin_text(text, "yaml", "params.yaml", fixed)
    statuses = [(r.line, r.old, r.status) for r in outcome.results]
    assert statuses == [
        (5, "$(params.builderImage)", "skipped"),
        (6, "alpine:3.19", "pinned"),
        (12, "{{inputs.parameters.image}}", "skipped"),
    ]
    assert len(outcome.warnings) == 2 and all("parameter" in w for w in outcome.warnings)


@pytest.mark.parametrize("indent", ["\t", 2, None])
def test_json_manifest(indent: str | int | None) -> None:
    # kubectl accepts JSON; Go's json.MarshalIndent output is tab-indented.
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
    }
    text = json.dumps(obj, indent=indent) + "\n"
    outcome = pin_text(text, "yaml", "deploy.json", fixed)
    assert outcome.rewritten == text.replace('"nginx:1.25"', f'"nginx:1.25@{DIGEST}"')
    assert json.loads(outcome.rewritten)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"nginx:1.25@{DIGEST}"
    )

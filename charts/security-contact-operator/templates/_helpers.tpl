{{/* Chart name, overridable. */}}
{{- define "sco.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name (63 characters at most: some name fields are DNS labels). */}}
{{- define "sco.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sco.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sco.labels" -}}
helm.sh/chart: {{ include "sco.chart" . }}
{{ include "sco.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sco.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sco.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sco.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator image. A digest pins the exact bytes that were built, signed and attested, and
wins over the tag (a tag can be moved; `repo:tag@digest` would mislead a reader about which
one the runtime trusts).
*/}}
{{- define "sco.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Labels of the `helm test` Pod. Deliberately not the selector labels: a bare Pod matching the
Deployment's selector would be adopted (and possibly deleted) by its ReplicaSet, counted as a
Service endpoint, and fall under the operator's NetworkPolicy, whose egress rules would then
block the very request the test makes.
*/}}
{{- define "sco.testLabels" -}}
helm.sh/chart: {{ include "sco.chart" . }}
app.kubernetes.io/part-of: {{ include "sco.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* What the operator's NetworkPolicy lets in besides `networkPolicy.ingressFrom`: the test Pod. */}}
{{- define "sco.testSelectorLabels" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: helm-test
{{- end }}

{{/*
The operator's API access, shared by the ClusterRole and the Role: exactly what
src/controller does, nothing more.
*/}}
{{- define "sco.rules" -}}
# Watch policies; add and remove the securitycontact.dev/cleanup finalizer (JSON patch).
- apiGroups: ["securitycontact.dev"]
  resources: ["securitycontactpolicies"]
  verbs: ["get", "list", "watch", "patch", "update"]
# Status, written with server-side apply.
- apiGroups: ["securitycontact.dev"]
  resources: ["securitycontactpolicies/status"]
  verbs: ["get", "patch", "update"]
# Our finalizer on the policies, for clusters that enforce OwnerReferencesPermissionEnforcement
# (e.g. OpenShift) on finalizer changes.
- apiGroups: ["securitycontact.dev"]
  resources: ["securitycontactpolicies/finalizers"]
  verbs: ["update"]
# Events on transitions.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

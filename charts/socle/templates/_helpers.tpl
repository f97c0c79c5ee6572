{{/* The release's name for its objects: `socle` for a release named socle. */}}
{{- define "socle.fullname" -}}
{{- if contains "socle" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-socle" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "socle.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/part-of: socle
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* What selects the operator's pods. */}}
{{- define "socle.selector" -}}
app.kubernetes.io/name: socle
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's ServiceAccount, as an RBAC subject. */}}
{{- define "socle.subject" -}}
- kind: ServiceAccount
  name: {{ include "socle.fullname" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}

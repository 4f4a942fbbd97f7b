{{/* Names, labels and computed values shared by the templates. */}}

{{- define "chatflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "chatflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chatflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object of the release. */}}
{{- define "chatflow.labels" -}}
helm.sh/chart: {{ include "chatflow.chart" . }}
app.kubernetes.io/name: {{ include "chatflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatflow
{{- end }}

{{/* Selector labels of the manager pods. */}}
{{- define "chatflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* Selector labels of the gateway pods. */}}
{{- define "chatflow.gatewaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "chatflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "chatflow.gatewayServiceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (printf "%s-gateway" (include "chatflow.fullname" .)) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "chatflow.redisSelectorLabels" -}}
app.kubernetes.io/name: {{ include "chatflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "chatflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-controller-manager" (include "chatflow.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The names the manager is told about (its flags) and RBAC refers to. */}}
{{- define "chatflow.webhookSecret" -}}{{ include "chatflow.fullname" . }}-webhook-server-cert{{- end }}
{{- define "chatflow.webhookService" -}}{{ include "chatflow.fullname" . }}-webhook-service{{- end }}
{{- define "chatflow.webhookConfiguration" -}}{{ include "chatflow.fullname" . }}-validating-webhook-configuration{{- end }}
{{- define "chatflow.executorConfig" -}}{{ include "chatflow.fullname" . }}-executor-config{{- end }}
{{- define "chatflow.redis" -}}{{ include "chatflow.fullname" . }}-redis{{- end }}
{{- define "chatflow.contactHashKeySecret" -}}{{ .Values.contactHashKey.existingSecret | default (printf "%s-contact-hash-key" (include "chatflow.fullname" .)) }}{{- end }}

{{- define "chatflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "chatflow.executorImage" -}}
{{- printf "%s:%s" (default .Values.image.repository .Values.executor.image.repository) (default (default .Chart.AppVersion .Values.image.tag) .Values.executor.image.tag) }}
{{- end }}

{{- define "chatflow.redisSecret" -}}{{ include "chatflow.fullname" . }}-redis{{- end }}

{{/*
The executors' session store URL: executor.store, else the bundled Redis,
else externalRedis.url, else memory. It never holds a password: the manager
reads that from its environment (chatflow.storePasswordSecret) and hands it
to each executor through a Secret of the flow's namespace and the
environment, never through a URL, a ConfigMap or an argument.
*/}}
{{- define "chatflow.store" -}}
{{- if .Values.executor.store }}
{{- .Values.executor.store }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://%s.%s.svc:6379/0" (include "chatflow.redis" .) .Release.Namespace }}
{{- else if .Values.externalRedis.url }}
{{- .Values.externalRedis.url }}
{{- else }}
{{- "memory" }}
{{- end }}
{{- end }}

{{/*
The Secret (release namespace) and key holding the session store's
password, as JSON, if any: the bundled Redis's (redis.auth.existingSecret,
else the one the chart generates), else externalRedis.passwordSecret.
*/}}
{{- define "chatflow.storePasswordSecret" -}}
{{- if .Values.redis.enabled }}
{{- dict "name" (default (include "chatflow.redisSecret" .) .Values.redis.auth.existingSecret) "key" .Values.redis.auth.key | toJson }}
{{- else if .Values.externalRedis.passwordSecret.name }}
{{- dict "name" .Values.externalRedis.passwordSecret.name "key" .Values.externalRedis.passwordSecret.key | toJson }}
{{- end }}
{{- end }}

{{/* Namespace selector of the webhooks and the policy in per-namespace mode. */}}
{{- define "chatflow.namespaceSelector" -}}
{{- if .Values.watchNamespaces }}
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: In
    values:
    {{- range .Values.watchNamespaces }}
    - {{ . | quote }}
    {{- end }}
{{- end }}
{{- end }}

{{/*
The OTEL_* variables of the executors and the gateway when
tracing.otlpEndpoint is set (the OpenTelemetry specification's), as a JSON
list of env entries; "[]" when tracing is off.
*/}}
{{- define "chatflow.tracingEnv" -}}
{{- $env := list }}
{{- with .Values.tracing.otlpEndpoint }}
{{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" .) }}
{{- $env = append $env (dict "name" "OTEL_TRACES_SAMPLER" "value" "parentbased_traceidratio") }}
{{- $env = append $env (dict "name" "OTEL_TRACES_SAMPLER_ARG" "value" (toString $.Values.tracing.sampleRatio)) }}
{{- with $.Values.tracing.resourceAttributes }}
{{- $attrs := list }}
{{- range $k, $v := . }}{{ $attrs = append $attrs (printf "%s=%s" $k (urlquery $v | replace "+" "%20")) }}{{ end }}
{{- $env = append $env (dict "name" "OTEL_RESOURCE_ATTRIBUTES" "value" (join "," $attrs)) }}
{{- end }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/* The objects' name: the release's, or release-chart when they differ. */}}
{{- define "authz.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "authz.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "authz.labels" -}}
{{ include "authz.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The pod's ServiceAccount: the chart's own, a named one, or "default". */}}
{{- define "authz.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "authz.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* The listener addresses the chart owns: every interface of the pod, or off. */}}
{{- define "authz.grpcAddr" -}}
{{- if .Values.listeners.grpc.enabled -}}:{{ .Values.listeners.grpc.port }}{{- else -}}off{{- end -}}
{{- end -}}
{{- define "authz.httpAddr" -}}
{{- if .Values.listeners.http.enabled -}}:{{ .Values.listeners.http.port }}{{- else -}}off{{- end -}}
{{- end -}}

{{/* Seconds of a Go duration of whole seconds or minutes ("5s", "1m"). */}}
{{- define "authz.seconds" -}}
{{- if hasSuffix "ms" . -}}{{ fail (printf "drain durations are whole seconds or minutes, not %s" .) }}
{{- else if hasSuffix "m" . -}}{{ mul (trimSuffix "m" . | int) 60 }}
{{- else if hasSuffix "s" . -}}{{ trimSuffix "s" . | int }}
{{- else -}}{{ fail (printf "drain durations are like 5s or 1m, not %s" .) }}
{{- end -}}
{{- end -}}

{{/* authz.yaml: the user's config with the chart's listener settings over it. */}}
{{- define "authz.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $grpc := mergeOverwrite (get $cfg "grpc" | default dict) (dict "addr" (include "authz.grpcAddr" .) "shutdown_delay" .Values.drain.delay "shutdown_grace" .Values.drain.grace) -}}
{{- $http := mergeOverwrite (get $cfg "http" | default dict) (dict "addr" (include "authz.httpAddr" .)) -}}
{{- $_ := set $cfg "grpc" $grpc -}}
{{- $_ = set $cfg "http" $http -}}
{{- $include := get $cfg "include" | default list -}}
{{- range $name, $_ := .Values.policyFragments -}}
{{- $scope := get ($.Values.policyFragmentScopes | default dict) $name -}}
{{- if $scope -}}
{{- $include = append $include (dict "files" (printf "../policies/%s" $name) "scope" $scope) -}}
{{- else -}}
{{- $include = append $include (printf "../policies/%s" $name) -}}
{{- end -}}
{{- end -}}
{{- if $include -}}
{{- $_ = set $cfg "include" $include -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

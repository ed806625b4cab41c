{{/* Names and labels. */}}
{{- define "flextask.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flextask.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flextask.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "flextask.secretName" -}}
{{- default (printf "%s-secrets" (include "flextask.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "flextask.secretKeys" -}}
{{- if .Values.secrets.existingSecret -}}
{{- toJson .Values.secrets.keys -}}
{{- else -}}
{{- toJson (keys .Values.secrets.values | sortAlpha) -}}
{{- end -}}
{{- end -}}

{{/*
The pod spec every component shares: the image with `flextask <command>`, the ConfigMap as environment, secrets
as files (<KEY>_FILE), probes on the ops endpoints, a non-root read-only container, the state directory volume.
Called with (dict "root" $ "component" "scheduler" "values" .Values.scheduler "command" "scheduler").
*/}}
{{- define "flextask.podSpec" -}}
{{- $root := .root -}}
{{- $secretKeys := include "flextask.secretKeys" $root | fromJsonArray -}}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 1000
  runAsGroup: 1000
  fsGroup: 1000
  seccompProfile:
    type: RuntimeDefault
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
containers:
  - name: {{ .component }}
    image: "{{ $root.Values.image.repository }}:{{ $root.Values.image.tag | default $root.Chart.AppVersion }}"
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args: [{{ .command | quote }}]
    envFrom:
      - configMapRef:
          name: {{ include "flextask.fullname" $root }}-config
    env:
      - name: FLEXTASK_INSTANCE_ID
        valueFrom:
          fieldRef:
            fieldPath: metadata.name
      - name: FLEXTASK_STATE_DIR
        value: /var/lib/flextask
      - name: METRICS_PORT
        value: {{ $root.Values.ports.metrics | quote }}
      - name: PORT
        value: {{ $root.Values.ports.api | quote }}
      {{- range $secretKeys }}
      - name: {{ . }}_FILE
        value: /var/run/secrets/flextask/{{ . }}
      {{- end }}
    ports:
      - name: metrics
        containerPort: {{ $root.Values.ports.metrics }}
      {{- if eq .component "api" }}
      - name: http
        containerPort: {{ $root.Values.ports.api }}
      {{- end }}
    readinessProbe:
      httpGet:
        path: /health/ready
        port: metrics
      periodSeconds: 5
      failureThreshold: 3
    livenessProbe:
      httpGet:
        path: /health/live
        port: metrics
      initialDelaySeconds: 10
      periodSeconds: 10
      failureThreshold: 6
    resources:
      {{- toYaml .values.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [ALL]
    volumeMounts:
      - name: state
        mountPath: /var/lib/flextask
      - name: tmp
        mountPath: /tmp
      {{- if $secretKeys }}
      - name: secrets
        mountPath: /var/run/secrets/flextask
        readOnly: true
      {{- end }}
      {{- if $root.Values.tlsSecret }}
      - name: tls
        mountPath: /etc/flextask/tls
        readOnly: true
      {{- end }}
volumes:
  {{- if ne .component "scheduler" }}
  - name: state
    emptyDir: {}
  {{- end }}
  - name: tmp
    emptyDir: {}
  {{- if $secretKeys }}
  - name: secrets
    secret:
      secretName: {{ include "flextask.secretName" $root }}
      defaultMode: 0400
  {{- end }}
  {{- if $root.Values.tlsSecret }}
  - name: tls
    secret:
      secretName: {{ $root.Values.tlsSecret }}
  {{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

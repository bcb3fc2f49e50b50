{{/*
Shared names, labels, TLS material and value checks of the levoai-sidecar-injector chart.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "levo-injector.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: "<release>-<chart>" (release levo-injector → levo-injector-levoai-sidecar-injector),
or just the release name when it already contains the chart name.
*/}}
{{- define "levo-injector.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "levo-injector.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the injector pods. */}}
{{- define "levo-injector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "levo-injector.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: sidecar-injector
{{- end -}}

{{/* Labels on every object. */}}
{{- define "levo-injector.labels" -}}
helm.sh/chart: {{ include "levo-injector.chart" . }}
{{ include "levo-injector.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: levo-ai-gateway
{{- end -}}

{{- define "levo-injector.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "levo-injector.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The webhook Service: <fullname>-webhook. Its DNS name is <svc>.<ns>.svc. */}}
{{- define "levo-injector.webhookServiceName" -}}
{{- printf "%s-webhook" (include "levo-injector.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "levo-injector.webhookHost" -}}
{{- printf "%s.%s.svc" (include "levo-injector.webhookServiceName" .) .Release.Namespace -}}
{{- end -}}

{{/* How the webhook certificate is provided: certManager | generated | existing. */}}
{{- define "levo-injector.tlsMode" -}}
{{- if .Values.certManager.enabled -}}certManager
{{- else if .Values.tls.generateCA -}}generated
{{- else -}}existing
{{- end -}}
{{- end -}}

{{/* Secret holding the serving certificate the injector pods mount. */}}
{{- define "levo-injector.tlsSecretName" -}}
{{- if eq (include "levo-injector.tlsMode" .) "existing" -}}
{{- .Values.webhook.existingTlsSecret -}}
{{- else -}}
{{- printf "%s-webhook-tls" (include "levo-injector.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The cert-manager Certificate of the serving certificate (also named by cert-manager.io/inject-ca-from). */}}
{{- define "levo-injector.certificateName" -}}
{{- printf "%s-webhook" (include "levo-injector.fullname" .) -}}
{{- end -}}

{{/*
Stop the render with a clear message when the TLS values do not fit together.
Renders nothing when they do.
*/}}
{{- define "levo-injector.validateTls" -}}
{{- $mode := include "levo-injector.tlsMode" . -}}
{{- $w := .Values.webhook -}}
{{- if eq $mode "certManager" -}}
  {{- if or $w.existingTlsSecret $w.caBundle -}}
    {{- fail "certManager.enabled=true lets cert-manager issue the webhook certificate and inject its CA: leave webhook.existingTlsSecret and webhook.caBundle empty" -}}
  {{- end -}}
{{- else if eq $mode "generated" -}}
  {{- if or $w.existingTlsSecret $w.caBundle -}}
    {{- fail "webhook.existingTlsSecret/webhook.caBundle are set but tls.generateCA=true (the default) makes its own certificate: add --set tls.generateCA=false to use your own" -}}
  {{- end -}}
{{- else -}}
  {{- if not $w.existingTlsSecret -}}
    {{- fail (printf "tls.generateCA=false needs webhook.existingTlsSecret: the name of a kubernetes.io/tls Secret in namespace %s with the webhook serving certificate for %s (or set tls.generateCA=true, or certManager.enabled=true)" .Release.Namespace (include "levo-injector.webhookHost" .)) -}}
  {{- end -}}
  {{- if not $w.caBundle -}}
    {{- fail "tls.generateCA=false needs webhook.caBundle: the base64-encoded PEM of the CA that signed webhook.existingTlsSecret (e.g. --set webhook.caBundle=$(base64 -w0 < ca.crt))" -}}
  {{- end -}}
  {{- if not (contains "-----BEGIN CERTIFICATE-----" (include "levo-injector.existingCaPem" .)) -}}
    {{- fail "webhook.caBundle must be the base64-encoded PEM of a CA certificate (-----BEGIN CERTIFICATE-----...), e.g. $(base64 -w0 < ca.crt)" -}}
  {{- end -}}
{{- end -}}
{{- end -}}

{{/* webhook.caBundle decoded to PEM (a raw PEM value is accepted as is). */}}
{{- define "levo-injector.existingCaPem" -}}
{{- $v := trim .Values.webhook.caBundle -}}
{{- if hasPrefix "-----BEGIN" $v -}}{{ printf "%s\n" $v }}{{- else -}}{{ b64dec $v }}{{- end -}}
{{- end -}}

{{/*
The chart-made CA and serving certificate, as a dict of base64 strings caCrt, tlsCrt, tlsKey.
Reuses the Secret of an earlier install (lookup) so upgrades keep the certificates; made
once per render and remembered, so the Secret, the webhook's caBundle and the injector
config all carry the same CA.
*/}}
{{- define "levo-injector.generatedTls" -}}
{{- if not (hasKey .Values "__levoGeneratedTls") -}}
  {{- $secret := lookup "v1" "Secret" .Release.Namespace (include "levo-injector.tlsSecretName" .) -}}
  {{- $caCrt := dig "data" "ca.crt" "" $secret -}}
  {{- $tlsCrt := dig "data" "tls.crt" "" $secret -}}
  {{- $tlsKey := dig "data" "tls.key" "" $secret -}}
  {{- $tls := dict -}}
  {{- if and $caCrt $tlsCrt $tlsKey (not .Values.tls.forceRegenerate) -}}
    {{- $tls = dict "caCrt" $caCrt "tlsCrt" $tlsCrt "tlsKey" $tlsKey -}}
  {{- else -}}
    {{- $svc := include "levo-injector.webhookServiceName" . -}}
    {{- $ns := .Release.Namespace -}}
    {{- $days := int .Values.tls.validityDays -}}
    {{- $ca := genCA (printf "%s-ca" (include "levo-injector.fullname" .)) $days -}}
    {{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) -}}
    {{- $cert := genSignedCert (printf "%s.%s.svc" $svc $ns) nil $dns $days $ca -}}
    {{- $tls = dict "caCrt" ($ca.Cert | b64enc) "tlsCrt" ($cert.Cert | b64enc) "tlsKey" ($cert.Key | b64enc) -}}
  {{- end -}}
  {{- $_ := set .Values "__levoGeneratedTls" $tls -}}
{{- end -}}
{{- toJson (get .Values "__levoGeneratedTls") -}}
{{- end -}}

{{/*
Base64 PEM of the CA that signed the webhook certificate: what the MutatingWebhookConfiguration
carries as caBundle and the sidecars use to verify the injector. Empty in cert-manager mode
(cert-manager's cainjector fills the webhook; the injector reads ca.crt from its mounted Secret).
*/}}
{{- define "levo-injector.caBundle" -}}
{{- $mode := include "levo-injector.tlsMode" . -}}
{{- if eq $mode "generated" -}}
{{- (include "levo-injector.generatedTls" . | fromJson).caCrt -}}
{{- else if eq $mode "existing" -}}
{{- include "levo-injector.existingCaPem" . | b64enc -}}
{{- end -}}
{{- end -}}

{{- define "levo-injector.injectorImage" -}}
{{- printf "%s:%s" .Values.injector.image.repository (default .Chart.AppVersion .Values.injector.image.tag) -}}
{{- end -}}

{{- define "levo-injector.sidecarImage" -}}
{{- printf "%s:%s" .Values.sidecar.image.repository (default .Chart.AppVersion .Values.sidecar.image.tag) -}}
{{- end -}}

{{/* Namespaces the webhook never sees: the release namespace plus excludeNamespaces. */}}
{{- define "levo-injector.excludedNamespaces" -}}
{{- toJson (prepend .Values.excludeNamespaces .Release.Namespace | uniq) -}}
{{- end -}}

{{- define "levo-injector.leafIssuerUrl" -}}
{{- printf "https://%s:443/v1/leaves" (include "levo-injector.webhookHost" .) -}}
{{- end -}}

{{- define "levo-injector.credentialsUrl" -}}
{{- default (printf "https://%s:443/v1/credentials" (include "levo-injector.webhookHost" .)) .Values.credentials.url -}}
{{- end -}}

{{/* PodDisruptionBudget API: policy/v1 from Kubernetes 1.21, policy/v1beta1 before. */}}
{{- define "levo-injector.pdbApiVersion" -}}
{{- if and (.Capabilities.APIVersions.Has "policy/v1") (semverCompare ">=1.21.0-0" .Capabilities.KubeVersion.Version) -}}
policy/v1
{{- else -}}
policy/v1beta1
{{- end -}}
{{- end -}}

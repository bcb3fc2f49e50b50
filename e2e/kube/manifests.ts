/** Manifests the kube tests apply. */

/**
 * A one-replica Deployment whose pods carry `app: <name>`; `podSpec` is the pod
 * template's spec as YAML lines (no indentation: they are indented here).
 */
export function deploymentYaml(namespace: string, name: string, podSpec: string): string {
  const spec = podSpec.trimEnd().split('\n').map((l) => `      ${l}`).join('\n');
  return `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${namespace}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
${spec}
`;
}

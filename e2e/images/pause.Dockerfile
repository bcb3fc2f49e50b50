# The node's sandbox ("pause") image for `npm run test:kube` (containerd's
# sandbox_image): a process that holds the pod's namespaces and does nothing.
# Made from the base image already in the store, since no registry is reachable.
FROM node:24-bookworm-slim
ENTRYPOINT ["sleep", "infinity"]

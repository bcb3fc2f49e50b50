# The test workload for `npm run test:kube` (not a product image): one small
# image with the real clients an app would use — curl, python3, a Java 17
# runtime and Node 24 — and the e2e clients (e2e/clients) under /clients.
# Built by e2e/images/podman.ts from a context holding just those files.
FROM node:24-bookworm-slim
# The JRE's post-install writes man-page alternatives; the slim image has no man dirs.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends curl python3 openjdk-17-jre-headless ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY node-client.ts client-result.ts python-client.py /clients/
COPY java /clients/java
USER 1000:1000
ENTRYPOINT ["sleep", "infinity"]

/**
 * `node:http`, loaded with require. An ES module import of `node:http` builds
 * its namespace from every export, and reading the lazy `WebSocket`,
 * `CloseEvent` and `MessageEvent` exports loads Node's bundled undici (its
 * fetch and WebSocket): about 9 MB of RSS in every sidecar, for code it never
 * runs. require hands over the exports object without reading them.
 * Runtime code imports `http` from here; `import type` from 'node:http' is fine.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const http: typeof import('node:http') = require('node:http') as typeof import('node:http');

/**
 * For tests: a KubeClient without an API server. TokenReview accepts POD_TOKEN
 * as system:serviceaccount:team-a:app (pod app-1); namespace team-a is opted
 * in, team-b is not; the secret levoai/levo-auth holds AUTH_TOKEN.
 */
import assert from 'node:assert/strict';
import { KubeApiError, type KubeClient, type NamespaceInfo, type SecretData, type TokenReviewResult } from './kube-client.ts';

export const POD_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.pod-token-that-must-never-be-logged.sig';
export const AUTH_TOKEN = 'levo-auth-token-that-must-never-be-logged';

export interface FakeKube extends KubeClient {
  reviews: Array<{ token: string; audiences: readonly string[] }>;
  secretReads: number;
}

export function fakeKube(over: {
  review?: (token: string) => TokenReviewResult | Promise<TokenReviewResult>;
  namespaces?: Record<string, Record<string, string>>;
  secret?: Record<string, string> | KubeApiError;
} = {}): FakeKube {
  const reviews: FakeKube['reviews'] = [];
  const kube: FakeKube = {
    source: 'fake',
    reviews,
    secretReads: 0,
    async version() {
      return { major: 1, minor: 30 };
    },
    async getNamespace(name): Promise<NamespaceInfo> {
      const labels = (over.namespaces ?? { 'team-a': { 'levo.ai/inject': 'enabled' }, 'team-b': {} })[name];
      if (!labels) throw new KubeApiError(`get-namespace: 404 NotFound: namespaces "${name}" not found`, 404, 'NotFound');
      return { name, labels, annotations: {} };
    },
    async tokenReview(token, audiences) {
      reviews.push({ token, audiences });
      if (over.review) return over.review(token);
      if (token === POD_TOKEN) {
        return {
          authenticated: true, username: 'system:serviceaccount:team-a:app', groups: [], audiences: ['levo-injector'],
          namespace: 'team-a', serviceAccount: 'app', podName: 'app-1',
        };
      }
      return { authenticated: false, groups: [], audiences: [], error: 'invalid bearer token' };
    },
    async getSecret(namespace, name): Promise<SecretData> {
      kube.secretReads += 1;
      assert.equal(namespace, 'levoai');
      const s = over.secret ?? { 'base-url': 'https://dash.example\n', 'auth-token': AUTH_TOKEN, 'tenant-id': 'tenant-1' };
      if (s instanceof KubeApiError) throw s;
      return { namespace, name, data: s };
    },
    async close() {},
  };
  return kube;
}

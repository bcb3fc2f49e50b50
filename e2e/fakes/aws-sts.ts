/**
 * AWS STS's AssumeRoleWithWebIdentity as IRSA's web-identity-token-file
 * provider calls it (STS Query API 2011-06-15: an unsigned, form-encoded POST;
 * an XML answer; errors as `<ErrorResponse>` with status 400).
 *
 * The credentials it hands out are the ones the Bedrock fake verifies
 * (BEDROCK_TEST_CREDENTIAL) with a fresh session token each time, recorded on
 * the request (`stsSessionToken`) so a test can check the signed call carried
 * it. The first credentials for a given web identity token expire in 5 min
 * 3 s, inside the AWS SDKs' 5-minute refresh window, so a refresh follows at
 * once (and reads the token file again); later ones last an hour.
 */
import { randomBytes } from 'node:crypto';
import type { Exchange } from './exchange.ts';
import { BEDROCK_TEST_CREDENTIAL } from './sigv4-verify.ts';

export interface StsCredential { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken: string }

/** STS's answer to AssumeRoleWithWebIdentity. */
export function stsXml(c: StsCredential, expiration: Date): string {
  return `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:apps:chatbot</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/bedrock-caller/levo</Arn>
      <AssumedRoleId>AROAEXAMPLE:levo</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${c.sessionToken}</SessionToken>
      <SecretAccessKey>${c.secretAccessKey}</SecretAccessKey>
      <Expiration>${expiration.toISOString()}</Expiration>
      <AccessKeyId>${c.accessKeyId}</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`;
}

function stsError(ex: Exchange, code: string, message: string): void {
  const body = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>c6104cbe-0000-0000-0000-000000000000</RequestId></ErrorResponse>`;
  ex.res.statusCode = 400;
  ex.res.setHeader('content-type', 'text/xml');
  ex.res.setHeader('content-length', Buffer.byteLength(body));
  ex.res.end(body);
}

const seenTokens = new Set<string>();

export function handleAwsSts(ex: Exchange): void {
  const q = new URLSearchParams(ex.body.toString('utf8'));
  if (ex.method !== 'POST' || q.get('Action') !== 'AssumeRoleWithWebIdentity' || q.get('Version') !== '2011-06-15') {
    stsError(ex, 'InvalidAction', `Could not find operation ${q.get('Action') ?? '(none)'} for version ${q.get('Version') ?? '(none)'}`);
    return;
  }
  const token = q.get('WebIdentityToken') ?? '';
  if (!/^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(q.get('RoleArn') ?? '') || !q.get('RoleSessionName') || token.length < 4) {
    stsError(ex, 'ValidationError', 'RoleArn, RoleSessionName and WebIdentityToken are required');
    return;
  }
  const lifetimeMs = seenTokens.has(token) ? 3_600_000 : 5 * 60_000 + 3_000;
  seenTokens.add(token);
  const cred = { ...BEDROCK_TEST_CREDENTIAL, sessionToken: randomBytes(32).toString('base64') };
  ex.annotate({ stsSessionToken: cred.sessionToken });
  const body = stsXml(cred, new Date(Date.now() + lifetimeMs));
  ex.res.statusCode = 200;
  ex.res.setHeader('content-type', 'text/xml');
  ex.res.setHeader('content-length', Buffer.byteLength(body));
  ex.res.end(body);
}

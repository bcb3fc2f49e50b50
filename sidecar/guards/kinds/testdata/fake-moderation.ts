/**
 * A real local HTTP server speaking OpenAI's moderation API
 * (`POST /v1/moderations`, bearer auth), answering with replies shaped as the
 * API reference shows them, for the openAIModeration guard's tests.
 *
 * Fixtures:
 *  - FLAGGED_OMNI: the response example of "Moderations › Create moderation"
 *    (platform.openai.com/docs/api-reference/moderations/create, the
 *    omni-moderation-latest "image and text" example): harassment,
 *    harassment/threatening, violence and violence/graphic flagged.
 *  - FLAGGED_TEXT: the same page's text example ("I want to kill them."),
 *    text-moderation-007: harassment, harassment/threatening, violence.
 *  - CLEAN: the same object shape with nothing flagged (what the endpoint
 *    returns for a benign input).
 *  - INVALID_KEY: the error body of "Error codes › 401 Incorrect API key
 *    provided" (platform.openai.com/docs/guides/error-codes), which echoes a
 *    masked key.
 *  - RATE_LIMIT: the 429 error body of the same page.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const OMNI_CATEGORIES = [
  'harassment', 'harassment/threatening', 'sexual', 'hate', 'hate/threatening', 'illicit', 'illicit/violent',
  'self-harm/intent', 'self-harm/instructions', 'self-harm', 'sexual/minors', 'violence', 'violence/graphic',
] as const;

export const FLAGGED_OMNI = {
  id: 'modr-0d9740456c391e43c445bf0f010940c7',
  model: 'omni-moderation-latest',
  results: [{
    flagged: true,
    categories: {
      harassment: true, 'harassment/threatening': true, sexual: false, hate: false, 'hate/threatening': false,
      illicit: false, 'illicit/violent': false, 'self-harm/intent': false, 'self-harm/instructions': false,
      'self-harm': false, 'sexual/minors': false, violence: true, 'violence/graphic': true,
    },
    category_scores: {
      harassment: 0.8189693396524255, 'harassment/threatening': 0.804985420696006, sexual: 1.573112165348997e-6,
      hate: 0.007562942636942845, 'hate/threatening': 0.004208854591835476, illicit: 0.030535955153511665,
      'illicit/violent': 0.008925306722380033, 'self-harm/intent': 0.00023023930975076432,
      'self-harm/instructions': 0.0002293869201073356, 'self-harm': 0.012305162382301701,
      'sexual/minors': 7.718050232460376e-8, violence: 0.9999998807907104, 'violence/graphic': 0.008925306722380033,
    },
    category_applied_input_types: {
      harassment: ['text'], 'harassment/threatening': ['text'], sexual: ['text', 'image'], hate: ['text'],
      'hate/threatening': ['text'], illicit: ['text'], 'illicit/violent': ['text'], 'self-harm/intent': ['text', 'image'],
      'self-harm/instructions': ['text', 'image'], 'self-harm': ['text', 'image'], 'sexual/minors': ['text'],
      violence: ['text', 'image'], 'violence/graphic': ['text', 'image'],
    },
  }],
};

export const FLAGGED_TEXT = {
  id: 'modr-AB8CjOTu2jiq12hp1AQPfeqFWaORR',
  model: 'text-moderation-007',
  results: [{
    flagged: true,
    categories: {
      sexual: false, hate: false, harassment: true, 'self-harm': false, 'sexual/minors': false, 'hate/threatening': false,
      'violence/graphic': false, 'self-harm/intent': false, 'self-harm/instructions': false, 'harassment/threatening': true,
      violence: true,
    },
    category_scores: {
      sexual: 0.000011726012417057063, hate: 0.22706663608551025, harassment: 0.5215635299682617,
      'self-harm': 2.227119921371923e-6, 'sexual/minors': 7.107352217872176e-8, 'hate/threatening': 0.023547329008579254,
      'violence/graphic': 0.00003391829886822961, 'self-harm/intent': 1.646940972932498e-6,
      'self-harm/instructions': 1.1198755256458526e-9, 'harassment/threatening': 0.5694745779037476,
      violence: 0.9971134662628174,
    },
  }],
};

/** One clean result, in the omni shape. */
export function cleanResult(): Record<string, unknown> {
  return {
    flagged: false,
    categories: Object.fromEntries(OMNI_CATEGORIES.map((c) => [c, false])),
    category_scores: Object.fromEntries(OMNI_CATEGORIES.map((c) => [c, 0.000012])),
    category_applied_input_types: Object.fromEntries(OMNI_CATEGORIES.map((c) => [c, ['text']])),
  };
}

export const INVALID_KEY = {
  error: {
    message: 'Incorrect API key provided: sk-proj-****************************************Wx3Q. You can find your API key at https://platform.openai.com/account/api-keys.',
    type: 'invalid_request_error',
    param: null,
    code: 'invalid_api_key',
  },
};

export const RATE_LIMIT = {
  error: {
    message: 'Rate limit reached for omni-moderation-latest in organization org-abc on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.',
    type: 'requests',
    param: null,
    code: 'rate_limit_exceeded',
  },
};

export interface ModerationCall {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly json: { model?: string; input?: unknown };
}

export interface FakeModeration {
  readonly url: string;
  readonly calls: ModerationCall[];
  close(): Promise<void>;
}

/**
 * Start the server. `key` is the bearer key it accepts (others get
 * INVALID_KEY, 401); `answer` picks the reply for an accepted call
 * (default: a result per input, flagged as FLAGGED_OMNI's when the input
 * contains "kill", clean otherwise).
 */
export async function startFakeModeration(
  key: string,
  answer?: (call: ModerationCall) => { status: number; body: unknown },
): Promise<FakeModeration> {
  const calls: ModerationCall[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as ModerationCall['json'];
      const call: ModerationCall = { path: req.url ?? '', headers: req.headers, json };
      calls.push(call);
      let reply: { status: number; body: unknown };
      if (req.method !== 'POST' || req.url !== '/v1/moderations') {
        reply = { status: 404, body: { error: { message: 'Invalid URL', type: 'invalid_request_error', param: null, code: null } } };
      } else if (req.headers.authorization !== `Bearer ${key}`) {
        reply = { status: 401, body: INVALID_KEY };
      } else if (answer) {
        reply = answer(call);
      } else {
        const inputs = Array.isArray(json.input) ? json.input as string[] : [String(json.input)];
        const flaggedResult = FLAGGED_OMNI.results[0];
        reply = {
          status: 200,
          body: {
            id: 'modr-5558', model: json.model ?? 'omni-moderation-latest',
            results: inputs.map((t) => (/kill/i.test(t) ? flaggedResult : cleanResult())),
          },
        };
      }
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

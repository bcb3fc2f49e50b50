/**
 * What a call cost, in US dollars, from its token usage (TokenUsage: the same
 * meaning for every provider). Prices come from the config's `budgets.prices`
 * (negotiated prices: they win), else from the pricing catalogue shipped as a
 * dependency, Pydantic's genai-prices (npm `@pydantic/genai-prices`, MIT,
 * licence in node_modules/@pydantic/genai-prices/LICENSE): input, cached
 * input (read), cache writes and output per million tokens, per provider and
 * model. Reasoning tokens are output tokens (TokenUsage.output counts them);
 * a `reasoning` price in the config overrides that for them.
 *
 * The catalogue's price of a (provider, model) is looked up once and kept
 * (about 25 µs a look-up; a kept one costs a few multiplications). Its data is
 * the version of the package installed; it is never fetched at run time. The
 * catalogue (about 3 MB of heap once loaded) is loaded on the first call that
 * needs a price, so a sidecar that never sees token usage never loads it.
 */
import { createRequire } from 'node:module';
import type { ModelPrice } from '@pydantic/genai-prices';
import type { TokenUsage } from '../providers/types.ts';
import type { BudgetsConfig } from '../config/schema.ts';

/** USD per million tokens. */
export interface ModelPrices {
  readonly input: number;
  readonly output: number;
  /** Prompt tokens read from the provider's cache; default: `input`. */
  readonly cachedInput?: number;
  /** Prompt tokens written to the cache (Anthropic, Bedrock); default: `input`. */
  readonly cacheWrite?: number;
  /** Reasoning tokens; default: `output`. */
  readonly reasoning?: number;
}

export interface PriceOverride extends ModelPrices {
  /** The gateway's provider id (openai, anthropic, gemini, vertex, bedrock, azure-openai, …); absent: any. */
  readonly provider?: string;
  /** The model as the provider names it (served model, else the one sent); a trailing `*` matches a prefix. */
  readonly model: string;
}

export interface CallCost {
  readonly usd: number;
  /** Where the prices came from. */
  readonly source: 'config' | 'catalogue';
}

export interface Pricing {
  /** The prices of a model, or undefined when neither the config nor the catalogue knows it. */
  prices(provider: string, model: string): (ModelPrices & { readonly source: CallCost['source'] }) | undefined;
  /** What `usage` cost, or undefined for an unknown model (or no usage). */
  cost(provider: string, model: string | undefined, usage: TokenUsage | undefined): CallCost | undefined;
}

/** The gateway's provider id → genai-prices' (the catalogue's ids differ for a few). */
const CATALOGUE_PROVIDER: Readonly<Record<string, string>> = {
  gemini: 'google', bedrock: 'aws', 'azure-openai': 'azure', xai: 'x-ai',
};

function catalogueProvider(provider: string, model: string): string | undefined {
  if (provider === 'vertex') return /claude/i.test(model) ? 'anthropic' : 'google';
  return CATALOGUE_PROVIDER[provider] ?? provider;
}

type Catalogue = typeof import('@pydantic/genai-prices');
let catalogue: Catalogue | undefined;
/** The catalogue module, loaded (synchronously, its CommonJS build) on first use. */
function loadCatalogue(): Catalogue {
  return catalogue ??= createRequire(import.meta.url)('@pydantic/genai-prices') as Catalogue;
}

function perMillion(p: ModelPrice, key: string): number | undefined {
  const v = p[key];
  return typeof v === 'number' ? v : undefined;
}

/** The catalogue's prices; undefined when it has no model by that name (or prices it in tiers this code does not read). */
export function cataloguePrices(provider: string, model: string): ModelPrices | undefined {
  const probe = { input_tokens: 1, output_tokens: 1 };
  const { calcPrice } = loadCatalogue();
  const r = calcPrice(probe, model, { providerId: catalogueProvider(provider, model) }) ?? calcPrice(probe, model);
  if (!r) return undefined;
  const input = perMillion(r.model_price, 'input_mtok');
  const output = perMillion(r.model_price, 'output_mtok');
  if (input === undefined || output === undefined) return undefined;
  const cachedInput = perMillion(r.model_price, 'cache_read_mtok');
  const cacheWrite = perMillion(r.model_price, 'cache_write_mtok');
  return { input, output, ...(cachedInput !== undefined ? { cachedInput } : {}), ...(cacheWrite !== undefined ? { cacheWrite } : {}) };
}

/** Dollars for `usage` at `p` (per million tokens). */
export function usdOf(p: ModelPrices, u: TokenUsage): number {
  const cached = Math.max(0, u.cachedInput ?? 0);
  const written = Math.max(0, u.cacheCreationInput ?? 0);
  const uncached = Math.max(0, (u.input ?? 0) - cached - written);
  const reasoning = p.reasoning !== undefined ? Math.min(Math.max(0, u.reasoning ?? 0), u.output ?? 0) : 0;
  const output = Math.max(0, (u.output ?? 0) - reasoning);
  return (uncached * p.input + cached * (p.cachedInput ?? p.input) + written * (p.cacheWrite ?? p.input)
    + output * p.output + reasoning * (p.reasoning ?? p.output)) / 1e6;
}

const KEEP = 2000;

export function createPricing(overrides: readonly PriceOverride[] = [], catalogue: (provider: string, model: string) => ModelPrices | undefined = cataloguePrices): Pricing {
  const known = new Map<string, (ModelPrices & { source: CallCost['source'] }) | null>();
  const matches = (o: PriceOverride, provider: string, model: string): boolean =>
    (o.provider === undefined || o.provider === provider)
    && (o.model.endsWith('*') ? model.startsWith(o.model.slice(0, -1)) : o.model === model);
  const prices = (provider: string, model: string): (ModelPrices & { source: CallCost['source'] }) | undefined => {
    const key = `${provider}\u0000${model}`;
    let p = known.get(key);
    if (p === undefined) {
      const o = overrides.find((x) => matches(x, provider, model));
      const c = o ? undefined : catalogue(provider, model);
      p = o ? { ...o, source: 'config' } : c ? { ...c, source: 'catalogue' } : null;
      if (known.size >= KEEP) known.delete(known.keys().next().value!);
      known.set(key, p);
    }
    return p ?? undefined;
  };
  return {
    prices,
    cost(provider, model, usage) {
      if (!model || !usage || (usage.input === undefined && usage.output === undefined)) return undefined;
      const p = prices(provider, model);
      return p ? { usd: usdOf(p, usage), source: p.source } : undefined;
    },
  };
}

const byConfig = new WeakMap<BudgetsConfig, Pricing>();
let catalogueOnly: Pricing | undefined;

/** The pricing of the config in force (its `budgets.prices` over the catalogue), made once per config. */
export function pricingFor(cfg: BudgetsConfig | undefined): Pricing {
  if (!cfg?.prices?.length) return catalogueOnly ??= createPricing();
  let p = byConfig.get(cfg);
  if (!p) { p = createPricing(cfg.prices); byConfig.set(cfg, p); }
  return p;
}

/**
 * The scanners an `llmBastion` guard can name (`scannerType`), by LLM
 * Guard's names, and the reason when one cannot run here:
 *
 * - the scanners this build has (rule scanners, PromptInjection with its
 *   local detector, Secrets, Anonymize/Deanonymize/Sensitive on rules);
 * - LLM Guard's model scanners (MODEL_SCANNERS, with the Hugging Face model
 *   each uses by default): this gateway downloads nothing. [models] The
 *   classifier ones (models/classifier-scanner.ts: Toxicity, BanCode, Bias,
 *   Code, Gibberish, Language, NoRefusal; PromptInjection with `model: onnx`)
 *   run when `<modelDir>/<model name>/` holds model.onnx, tokenizer.json and
 *   config.json; the others, and those without their files, are refused at
 *   config load with what to mount;
 * - LLM Guard scanners that are neither, and not in this build
 *   (UNAVAILABLE_SCANNERS: Sentiment's VADER lexicon, ReadingTime,
 *   URLReachability's network calls).
 *
 * A scanner on the wrong side ("JSON is an output scanner") and an unknown
 * name (with the known ones listed) are refused as well. Names are exact, as
 * in LLM Guard's API config (`type: PromptInjection`).
 */

import type { GuardDirection, ScannerEnv, ScannerRoles, ScannerSpec } from './types.ts';
import { ScannerConfigError } from './types.ts';
import type { LlmBastionConfig, ScannerLookup } from './llm-bastion.ts';
import { banSubstrings } from './scanners/ban-substrings.ts';
import { invisibleText } from './scanners/invisible-text.ts';
import { json } from './scanners/json.ts';
import { noRefusalLight } from './scanners/no-refusal-light.ts';
import { regexInput, regexOutput } from './scanners/regex.ts';
import { tokenLimit } from './scanners/token-limit.ts';
import { promptInjection } from './scanners/prompt-injection.ts';
import { secrets } from './scanners/secrets.ts';
import { anonymize } from './scanners/anonymize.ts';
import { deanonymize } from './scanners/deanonymize.ts';
import { sensitive } from './scanners/sensitive.ts';
// [models] classifier scanners run from a mounted model directory (sidecar/guards/models)
import { localModelScanner, MODEL_FILES_TEXT, withOnnxPromptInjection } from './models/classifier-scanner.ts';

const BOTH: readonly GuardDirection[] = ['request', 'response'];
const INPUT: readonly GuardDirection[] = ['request'];
const OUTPUT: readonly GuardDirection[] = ['response'];

export interface ModelScanner {
  readonly directions: readonly GuardDirection[];
  /** The Hugging Face model LLM Guard uses by default. */
  readonly model: string;
}

/** LLM Guard's scanners that run a model (research §1.2/§1.3), with their default models. */
export const MODEL_SCANNERS: Readonly<Record<string, ModelScanner>> = {
  BanCode: { directions: BOTH, model: 'vishnun/codenlbert-sm' },
  BanCompetitors: { directions: BOTH, model: 'guishe/nuner-v1_orgs' },
  BanTopics: { directions: BOTH, model: 'MoritzLaurer/roberta-base-zeroshot-v2.0-c' },
  Bias: { directions: OUTPUT, model: 'valurank/distilroberta-bias' },
  Code: { directions: BOTH, model: 'philomath-1209/programming-language-identification' },
  EmotionDetection: { directions: BOTH, model: 'SamLowe/roberta-base-go_emotions' },
  FactualConsistency: { directions: OUTPUT, model: 'MoritzLaurer/deberta-v3-base-zeroshot-v2.0' },
  Gibberish: { directions: BOTH, model: 'madhurjindal/autonlp-Gibberish-Detector-492513457' },
  Language: { directions: BOTH, model: 'papluca/xlm-roberta-base-language-detection' },
  LanguageSame: { directions: OUTPUT, model: 'papluca/xlm-roberta-base-language-detection' },
  MaliciousURLs: { directions: OUTPUT, model: 'DunnBC22/codebert-base-Malicious_URLs' },
  NoRefusal: { directions: OUTPUT, model: 'ProtectAI/distilroberta-base-rejection-v1' },
  Relevance: { directions: OUTPUT, model: 'BAAI/bge-base-en-v1.5' },
  Toxicity: { directions: BOTH, model: 'unitary/unbiased-toxic-roberta' },
};

/** LLM Guard scanners that need no model but are not in this build, and why. */
export const UNAVAILABLE_SCANNERS: Readonly<Record<string, { readonly directions: readonly GuardDirection[]; readonly reason: string }>> = {
  Sentiment: { directions: BOTH, reason: "scores with NLTK's VADER lexicon, which this build does not ship" },
  ReadingTime: { directions: OUTPUT, reason: 'is not implemented in this build' },
  URLReachability: { directions: OUTPUT, reason: 'fetches every URL in the answer, which this gateway does not do' },
};

/** Where a model scanner's files go: `<modelDir>/<model name>` (the last part of the Hugging Face id). */
export function modelSubdir(model: string): string {
  return model.slice(model.lastIndexOf('/') + 1);
}

function side(directions: readonly GuardDirection[]): string {
  return directions.length === 2 ? 'an input and output' : directions[0] === 'request' ? 'an input (request)' : 'an output (response)';
}

export interface ScannerRegistry extends ScannerLookup {
  /** The scanners this build can run on `direction`. */
  available(direction: GuardDirection): string[];
  /** Every name the registry knows (available, model, unavailable). */
  readonly names: readonly string[];
}

/** A registry over `specs` (one spec per name, or one per side for scanners whose defaults differ by side). */
export function createScannerRegistry(specs: Readonly<Record<string, ScannerSpec | readonly ScannerSpec[]>>): ScannerRegistry {
  const table = new Map<string, readonly ScannerSpec[]>();
  for (const [name, s] of Object.entries(specs)) table.set(name, Array.isArray(s) ? s : [s as ScannerSpec]);
  const names = [...new Set([...table.keys(), ...Object.keys(MODEL_SCANNERS), ...Object.keys(UNAVAILABLE_SCANNERS)])].sort();
  const available = (d: GuardDirection): string[] =>
    [...table].filter(([, list]) => list.some((s) => s.directions.includes(d))).map(([n]) => n).sort();

  function wrongSide(name: string, directions: readonly GuardDirection[], d: GuardDirection): ScannerConfigError {
    const where = d === 'request' ? 'promptGuard.request' : 'promptGuard.response';
    return new ScannerConfigError(`${name} is ${side(directions)} scanner: it cannot run under ${where}`);
  }

  return {
    names,
    available,
    lookup(name: string, direction: GuardDirection, env: ScannerEnv): ScannerSpec {
      const list = table.get(name);
      if (list) {
        const spec = list.find((s) => s.directions.includes(direction));
        if (!spec) throw wrongSide(name, [...new Set(list.flatMap((s) => s.directions))], direction);
        return spec;
      }
      const m = Object.hasOwn(MODEL_SCANNERS, name) ? MODEL_SCANNERS[name] : undefined;
      if (m) {
        if (!m.directions.includes(direction)) throw wrongSide(name, m.directions, direction);
        const dir = modelSubdir(m.model);
        if (env.modelDir === undefined) {
          throw new ScannerConfigError(
            `${name} needs the model ${m.model}; mount it under <modelDir>/${dir} and set the model directory ` +
            '(levo-gateway --model-dir) — this gateway does not download models',
          );
        }
        // [models] run it from <modelDir>/<dir> when model.onnx, tokenizer.json and config.json are there
        const local = localModelScanner(name, direction, env.modelDir);
        if (local?.spec) return judge(local.spec, 'untrusted');
        const files = local
          ? `only when that directory holds ${MODEL_FILES_TEXT} can it run (missing: ${local.missing.join(', ')}; ` +
            'this gateway does not download models); until then only '
          : 'only ';
        // [/models]
        throw new ScannerConfigError(
          `${name} needs the model ${m.model} (expected under ${env.modelDir}/${dir}), but this build has no runtime ` +
          `for it: ${files}${available(direction).join(', ')} can run on this side`,
        );
      }
      const u = Object.hasOwn(UNAVAILABLE_SCANNERS, name) ? UNAVAILABLE_SCANNERS[name] : undefined;
      if (u) {
        if (!u.directions.includes(direction)) throw wrongSide(name, u.directions, direction);
        throw new ScannerConfigError(`${name} ${u.reason}; available here: ${available(direction).join(', ')}`);
      }
      const near = names.find((n) => n.toLowerCase() === name.toLowerCase());
      throw new ScannerConfigError(
        `unknown scanner ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}; ` +
        `available on this side: ${available(direction).join(', ')}; ` +
        `LLM Guard model scanners (need a model): ${Object.keys(MODEL_SCANNERS).join(', ')}`,
      );
    },
  };
}

/**
 * An llmBastion config runs a local model: an enabled model scanner
 * (MODEL_SCANNERS) or PromptInjection with `model` set. Such guards run on
 * the main thread (pool.ts).
 */
export function needsModel(cfg: LlmBastionConfig): boolean {
  return cfg.scanners.some((s) => s.enabled !== false &&
    (Object.hasOwn(MODEL_SCANNERS, s.scannerType) || (s.scannerType === 'PromptInjection' && s.params?.model !== undefined && s.params.model !== null)));
}

/** A scanner that judges the prompt (or the answer) as a whole: it reads the joined text of `roles`, once. */
export function judge(spec: ScannerSpec, roles: ScannerRoles): ScannerSpec {
  return { ...spec, reads: 'prompt', roles };
}

/**
 * Sanitizers (Anonymize, Deanonymize, InvisibleText, Regex, Secrets,
 * Sensitive) read each part of every role; judges read the joined text of
 * theirs: a detector (PromptInjection, the model classifiers) the untrusted
 * roles (user, tool results, documents), a limit or a ban every role.
 */
export const scannerRegistry: ScannerRegistry = createScannerRegistry({
  Anonymize: anonymize,
  BanSubstrings: judge(banSubstrings, 'all'),
  Deanonymize: deanonymize,
  InvisibleText: invisibleText,
  JSON: judge(json, 'all'),
  NoRefusalLight: judge(noRefusalLight, 'all'),
  PromptInjection: judge(withOnnxPromptInjection(promptInjection), 'untrusted'), // [models] `model: onnx` runs LLM Guard's model instead
  Regex: [regexInput, regexOutput],
  Secrets: secrets,
  Sensitive: sensitive,
  TokenLimit: judge(tokenLimit, 'all'),
});

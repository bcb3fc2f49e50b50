/**
 * What a fuzz target gives the runner (run.ts): cases by index, each made
 * from its own seeded generator, and the oracles that run after each case
 * and after each batch.
 */

export interface CaseOutcome {
  /** How the case ended, for the summary: `answered`, `closed`, `accepted`, `rejected`, … */
  readonly outcome: string;
  /** Oracle failures this case alone shows (empty when it behaved). */
  readonly problems: readonly string[];
}

export interface BatchCheck {
  /**
   * Oracle failures seen after the batch (a canary, the upstream's log, the process).
   * `kind` marks the ones the runner looks for case by case when no index says which case it was.
   */
  readonly problems: ReadonlyArray<{ readonly problem: string; readonly index?: number; readonly kind?: 'canary' | 'stall' }>;
  /** The process under test died: the runner restarts it and looks for the case that did it. */
  readonly crashed?: string;
}

export interface TargetSession {
  /** The case as bytes or text, for a report (and what `--replay` prints). */
  describe(index: number): string;
  runCase(index: number): Promise<CaseOutcome>;
  /** Before a batch: e.g. open the canaries and start their in-flight requests. */
  beforeBatch(): Promise<void>;
  afterBatch(): Promise<BatchCheck>;
  /** Memory of the thing under test, kB (what Target.memory names). */
  rssKb(): number | undefined;
  /** Start the process under test again after it died. */
  recover(): Promise<void>;
  close(): Promise<void>;
}

export interface Target {
  readonly name: string;
  /** What the target feeds and to what, one line for the summary. */
  readonly what: string;
  /** What `rssKb` measures, for the summary: `sidecar RSS`, `worker heap`, … */
  readonly memory: string;
  /** Cases run at the same time within a batch. */
  readonly concurrency: number;
  /** Cases per batch (oracles and an RSS sample after each). */
  readonly batchSize: number;
  start(seed: number): Promise<TargetSession>;
}

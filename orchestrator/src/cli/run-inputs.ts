/** Local files a run reads besides the profiles: the price overrides and an earlier run's samples as seeds. */
import { readFile } from 'node:fs/promises';
import { DEFAULT_PRICES, mergePriceFile, type Prices } from '../core/report/model-prices.ts';
import type { Sample } from '../core/verify/sample.ts';
import { readJsonLines } from '../store/jsonl.ts';
import { RUN_FILES } from '../contract/run-layout.ts';
import { UsageError } from './usage-error.ts';

/** The built-in price table, with `--price-file` merged over it when given. */
export async function loadPricesFlag(path: string | undefined): Promise<Prices> {
  if (path === undefined) return DEFAULT_PRICES;
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read --price-file ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  try {
    return mergePriceFile(text, `--price-file ${path}`);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Samples of an earlier run (its samples.jsonl, or the run directory) to use as few-shot seeds. */
export async function loadSeedData(path: string): Promise<Sample[]> {
  const file = path.endsWith('.jsonl') ? path : `${path.replace(/\/+$/u, '')}/${RUN_FILES.samples}`;
  const seeds: Sample[] = [];
  try {
    for await (const sample of readJsonLines<Sample>(file)) {
      if (typeof sample?.question === 'string' && typeof sample.metadata?.kind === 'string') seeds.push(sample);
    }
  } catch (error) {
    throw new UsageError(`cannot read --seed-data ${file}: ${(error as Error).message}`);
  }
  if (seeds.length === 0)
    throw new UsageError(`--seed-data ${file} holds no samples: pass the samples.jsonl (or the run directory) of an earlier run`);
  return seeds;
}

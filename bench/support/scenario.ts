export interface Figure {
  readonly label: string;
  readonly value: string;
  readonly target?: string;
  readonly met?: boolean;
}

export interface ScenarioResult {
  readonly name: string;
  readonly settings: string;
  readonly figures: Figure[];
  readonly notes?: string[];
}

export interface BenchContext {
  readonly quick: boolean;
  /** Scratch directory for profile files and run directories. */
  readonly workDir: string;
}

export const fmt = (value: number, digits = 2) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

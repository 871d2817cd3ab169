/**
 * All or nothing (DESIGN §13): the publish phase of a run starts only when every gadget has
 * finished everything before it. Every gadget's chain reaches the gate — having built, or having
 * failed (a failed gadget's remaining steps return at once) — and when the last one arrives the
 * gate decides for all: if any failed, the others are withheld (their publish steps do not run),
 * unless the run keeps going (`--keep-going`: publish the gadgets that built).
 */
export interface PhaseMember {
  /** The gadget's name. */
  name: string;
  /** Did it fail (or was it stopped) before the gate? */
  failed(): boolean;
  /** Called when the gate withholds this (built) gadget's publish steps; `failed` names the gadgets that failed. */
  withhold(failed: string[]): void;
}

export class PhaseGate {
  private readonly arrived: PhaseMember[] = [];
  private readonly opened: Promise<void>;
  private open!: () => void;

  constructor(
    private readonly members: number,
    private readonly keepGoing: boolean,
  ) {
    this.opened = new Promise((r) => (this.open = r));
    if (members === 0) this.open();
  }

  /** Wait at the gate; resolves when every gadget has arrived (and the gate has decided). */
  arrive(m: PhaseMember): Promise<void> {
    this.arrived.push(m);
    if (this.arrived.length === this.members) this.decide();
    return this.opened;
  }

  private decide(): void {
    const failed = this.arrived.filter((m) => m.failed()).map((m) => m.name);
    if (failed.length > 0 && !this.keepGoing) {
      for (const m of this.arrived) if (!m.failed()) m.withhold(failed);
    }
    this.open();
  }
}

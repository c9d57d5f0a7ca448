import type { SpendMark } from '../limits/windows';

/** What the caller may do next: a hold is given back by `settle` (services/admission.ts) unless claimed. */
export class Hold {
  readonly id: string;
  /** The budget units taken with it: given back with it only if the upstream spent nothing. */
  readonly spend: readonly SpendMark[];
  #claimed = false;
  #mayHaveSpent = false;

  constructor(id: string, spend: readonly SpendMark[] = []) {
    this.id = id;
    this.spend = spend;
  }

  /** What the hold was taken for may have cost the upstream something: its units stay spent. */
  mayHaveSpent(): void {
    this.#mayHaveSpent = true;
  }

  /** The units to give back with an unclaimed hold. */
  get refund(): readonly SpendMark[] {
    return this.#mayHaveSpent ? [] : this.spend;
  }

  /** Takes responsibility for the hold (the service committed or will release it). */
  claim(): string {
    this.#claimed = true;
    return this.id;
  }

  get claimed(): boolean {
    return this.#claimed;
  }
}

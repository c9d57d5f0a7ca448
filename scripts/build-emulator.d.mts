/** Bundles the emulator for workerd (`worker`) or Node (`node`), to `outfile` if given; returns the bundle's path. */
export function buildEmulator(target: 'worker' | 'node', outfile?: string): string;

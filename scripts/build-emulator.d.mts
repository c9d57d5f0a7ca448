/** Bundles the emulator for workerd (`worker`) or Node (`node`); returns the bundle's path. */
export function buildEmulator(target: 'worker' | 'node'): string;

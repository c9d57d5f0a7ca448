/** A UTC calendar window: its key (`2026-12-03` or `2026-12`) and when it ends (epoch ms). */
export interface Window {
  key: string;
  endsAt: number;
}

/** One unit of a budget taken by an admission (its bucket, in its window's key), enough to give it back exactly. */
export interface SpendMark {
  bucket: string;
  window: string;
}

/** The UTC day `now` falls in. */
export function dayWindow(now: number): Window {
  const d = new Date(now);
  return {
    key: d.toISOString().slice(0, 10),
    endsAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1),
  };
}

/** The UTC calendar month `now` falls in. */
export function monthWindow(now: number): Window {
  const d = new Date(now);
  return { key: d.toISOString().slice(0, 7), endsAt: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** Whole seconds from `now` to the window's end, at least 1. */
export const secondsLeft = (window: Window, now: number): number =>
  Math.max(1, Math.ceil((window.endsAt - now) / 1000));
